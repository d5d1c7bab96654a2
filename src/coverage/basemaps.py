"""The basemaps a coverage map can be drawn on: names and what each one is.

A light module (no folium): the command line builds its ``--basemap`` choices and help from
it without loading the map libraries at start-up; :mod:`coverage.maps` draws them.

Examples
--------
>>> BASEMAPS
('osm', 'tianditu', 'gaode', 'none')
>>> basemap_help("zh").startswith("osm: OpenStreetMap")
True
"""

from __future__ import annotations

from coverage import labels

__all__ = ["BASEMAPS", "BASEMAP_DESCRIPTIONS", "basemap_help"]

#: name -> (Chinese, English) description.
BASEMAP_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "osm": ("OpenStreetMap 在线瓦片", "OpenStreetMap tiles (online)"),
    "tianditu": (
        "天地图（密钥: 研究的 tianditu_key 或环境变量 TIANDITU_KEY）",
        "Tianditu (key: the study's tianditu_key or TIANDITU_KEY)",
    ),
    "gaode": ("高德（图层转为 GCJ-02）", "Gaode (layers shifted to GCJ-02)"),
    "none": ("无瓦片，离线绘制步行路网", "no tiles: the walk network drawn offline"),
}

#: The basemap names, in the order the help lists them.
BASEMAPS: tuple[str, ...] = tuple(BASEMAP_DESCRIPTIONS)


def basemap_help(lang: str | None) -> str:
    """Every basemap with its description, in one line (``name: description; ...``).

    Parameters
    ----------
    lang
        ``"zh"``, ``"en"`` or ``None`` (Chinese).

    Returns
    -------
    str
    """
    sep = "；" if labels.check_language(lang) == "zh" else "; "
    return sep.join(
        f"{name}: {labels.pick(zh, en, lang)}" for name, (zh, en) in BASEMAP_DESCRIPTIONS.items()
    )
