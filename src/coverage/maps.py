"""Interactive coverage maps (folium / Leaflet) and their self-contained HTML export.

:func:`coverage_map` draws one service type of an :class:`~coverage.pipeline.Analysis`:
stations of every service type (a colour each, with a legend), compounds coloured by walk
minutes to the chosen service (their polygons, else circles sized by households), the
uncovered compounds outlined with their reason, and, when given, the walk-time areas of the
isochrones and the proposed sites of the siting. It returns a ``folium.Map`` that displays
inline in Jupyter; :func:`write_map` writes it as one HTML file with Leaflet inlined from a
pinned package (:mod:`coverage._leaflet`): no script or stylesheet is fetched, and with
``basemap="none"`` nothing at all.

Safety: every text that comes from input files (names, ids, labels of the study) is escaped
with :func:`escape_text` (HTML entities for ``& < > " '`` and also for backslash, backtick and
``$``) and embedded as JSON data, never spliced into JavaScript code or template literals.
Popups and tooltips are built by Leaflet itself (no jQuery).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Figure

from coverage import dataedge, gaps
from coverage._atomic import atomic_path
from coverage._mappage import (
    CoverageMap,
    DataLayer,
    Decor,
    escape_text,
    feature_collection,
    shift_round,
)
from coverage.basemaps import BASEMAPS
from coverage.config import Study
from coverage.errors import InputError, Problem
from coverage.network import WalkNetwork

__all__ = ["BASEMAPS", "coverage_map", "escape_text", "map_html", "write_map"]

log = logging.getLogger(__name__)


# compounds: one colour per threshold band (walk <= T1, <= T2, ...), then beyond, then none
_BAND_COLOURS = ("#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#fee08b")
_BEYOND = "#d73027"
_NO_WALK = "#8c8c8c"
_GAP = "#a50026"
_STATION_COLOURS = ("#1f5fbf", "#8e44ad", "#e67e22", "#16a3b8", "#c2185b", "#6d4c41", "#37474f")
_SITE = "#ffd400"

_MAJOR = {"motorway", "trunk", "primary", "secondary", "tertiary"}
_MAJOR |= {f"{k}_link" for k in _MAJOR}
_STREET = {"residential", "unclassified", "living_street", "service", "pedestrian", "road"}

_TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "min": "{m} 分钟",
        "hh": "{h} 户",
        "band_le": "≤ {t} 分钟",
        "band_between": "{a}–{b} 分钟",
        "band_beyond": "> {t} 分钟（未覆盖）",
        "band_none": "无法步行到达",
        "walk_legend": "小区：步行到{label}的时间",
        "compounds": "小区（按步行时间着色）",
        "gaps": "未覆盖小区（{t} 分钟）",
        "gap_legend": "未覆盖小区（红色虚线框）",
        "circles": "无边界的小区：圆圈大小表示户数",
        "stations": "{label}（{n} 个）",
        "stations_legend": "站点",
        "iso": "{t} 分钟步行圈",
        "sites": "建议新站址（{n} 个）",
        "sites_legend": "建议新站址（数字为排名）",
        "site": "建议站址 {id}",
        "osm": "OpenStreetMap 底图",
        "tianditu": "天地图",
        "tianditu_labels": "天地图注记",
        "gaode": "高德地图",
        "none": "路网底图（离线）",
        "data_extent": "地图数据范围 (map data extent)",
        "data_extent_legend": "地图数据范围（灰色虚线）：范围外路网不完整",
        "network_attr": "路网 &copy; OpenStreetMap contributors",
        "name": "名称",
        "id": "编号",
        "households": "户数",
        "walk": "步行时间",
        "nearest": "最近站点",
        "reason": "未覆盖原因",
        "service": "服务类型",
        "served": "服务户数",
        "compounds_served": "服务小区数",
        "capacity": "容量",
        "over": "超出容量",
        "station_reason": "问题",
        "rank": "排名",
        "added": "新增覆盖户数",
        "yes": "是",
        "beyond_threshold": "步行 {m} 分钟，超出 {t} 分钟标准 {s} 分钟",
        "unreachable": "路网不连通，无法步行到达",
        "far_from_network": "距步行道路过远",
        "outside_network_data": "位于路网数据范围之外或边缘，需更大范围的地图数据",
        "not_reachable": "无法步行到达",
        "data_date": "数据日期：{d}",
        "made": "制图日期：{d}",
        "gcj": "已按高德底图将全部图层坐标由 WGS-84 转换为 GCJ-02",
        "zoom_in": "放大",
        "zoom_out": "缩小",
        "title_service": "{label} 覆盖",
    },
    "en": {
        "min": "{m} min",
        "hh": "{h} households",
        "band_le": "≤ {t} min",
        "band_between": "{a}–{b} min",
        "band_beyond": "> {t} min (not covered)",
        "band_none": "not reachable on foot",
        "walk_legend": "Compounds: walk time to {label}",
        "compounds": "Compounds (by walk time)",
        "gaps": "Uncovered compounds ({t} min)",
        "gap_legend": "Uncovered compound (red dashed outline)",
        "circles": "Compounds without outline: circle size = households",
        "stations": "{label} ({n})",
        "stations_legend": "Stations",
        "iso": "{t}-minute walk area",
        "sites": "Proposed sites ({n})",
        "sites_legend": "Proposed site (number = rank)",
        "site": "Proposed site {id}",
        "osm": "OpenStreetMap",
        "tianditu": "Tianditu",
        "tianditu_labels": "Tianditu labels",
        "gaode": "Gaode (AMap)",
        "none": "Walk network (offline)",
        "data_extent": "Map data extent",
        "data_extent_legend": "Map data extent (grey dashes): walk network incomplete beyond it",
        "network_attr": "Walk network &copy; OpenStreetMap contributors",
        "name": "Name",
        "id": "ID",
        "households": "Households",
        "walk": "Walk time",
        "nearest": "Nearest station",
        "reason": "Not covered because",
        "service": "Service",
        "served": "Households served",
        "compounds_served": "Compounds served",
        "capacity": "Capacity",
        "over": "Over capacity",
        "station_reason": "Problem",
        "rank": "Rank",
        "added": "Households added",
        "yes": "yes",
        "beyond_threshold": "{m} min walk, {s} min beyond the {t}-minute standard",
        "unreachable": "unreachable on the walk network",
        "far_from_network": "too far from any walkable way",
        "outside_network_data": "outside the network data or at its edge (needs a larger extract)",
        "not_reachable": "not reachable on foot",
        "data_date": "Data date: {d}",
        "made": "Map made: {d}",
        "gcj": "All layers shifted from WGS-84 to GCJ-02 to line up with the Gaode basemap",
        "zoom_in": "Zoom in",
        "zoom_out": "Zoom out",
        "title_service": "{label} coverage",
    },
}


class Analysis(Protocol):
    """What a map reads of :class:`coverage.pipeline.Analysis` (maps sit below pipeline)."""

    @property
    def study_name(self) -> str: ...
    @property
    def services(self) -> Mapping[str, Any]: ...  # ServiceResult: assessed, loads
    @property
    def note(self) -> str | None: ...


def _num(value: float, decimals: int = 1) -> str:
    return f"{value:,.{decimals}f}"


def _minutes(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------------------------
# geometry and feature collections


def _wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame if frame.crs is None or frame.crs.to_epsg() == 4326 else frame.to_crs(4326)


def _radius(households: pd.Series, *, base: float = 4.0, span: float = 10.0) -> np.ndarray:
    h = households.fillna(0.0).clip(lower=0.0).to_numpy(dtype=float)
    top = float(h.max()) if len(h) else 0.0
    r = base + span * np.sqrt(h / top) if top > 0 else np.full(len(h), base)
    return np.round(r, 1)


def _is_point(geoms: gpd.GeoSeries) -> np.ndarray:
    return np.asarray(geoms.geom_type == "Point")


# --------------------------------------------------------------------------------------------
# layers


def _thresholds(assessed: pd.DataFrame) -> list[float]:
    found = [re.fullmatch(r"covered_(\d+(?:\.\d+)?)min", str(c)) for c in assessed.columns]
    return sorted(float(m.group(1)) for m in found if m)


def _bands(thresholds: list[float], t: dict[str, str]) -> list[tuple[str, str]]:
    """(colour, label) per band: one per threshold, then beyond the last, then no walk."""
    out = []
    for i, limit in enumerate(thresholds):
        colour = _BAND_COLOURS[min(i, len(_BAND_COLOURS) - 1)]
        label = (
            t["band_le"].format(t=_minutes(limit))
            if i == 0
            else t["band_between"].format(a=_minutes(thresholds[i - 1]), b=_minutes(limit))
        )
        out.append((colour, label))
    out.append((_BEYOND, t["band_beyond"].format(t=_minutes(thresholds[-1]))))
    out.append((_NO_WALK, t["band_none"]))
    return out


def _reason_text(row: Any, limit: float, t: dict[str, str]) -> str:
    reason = str(row.reason or "")
    if reason in ("", "nan", "None"):
        if pd.notna(row.walk_min) and row.walk_min > limit:
            reason = "beyond_threshold"
        else:
            return ""
    if reason == "beyond_threshold":
        short = row.walk_min - limit
        return t["beyond_threshold"].format(
            m=_num(row.walk_min), t=_minutes(limit), s=_num(max(short, 0.0))
        )
    return t.get(reason, escape_text(reason))


def _compound_props(
    assessed: gpd.GeoDataFrame, refs: dict[str, int], limits: list[float], t: dict
) -> list[dict[str, Any]]:
    """Per compound: band ``s``, circle radius ``r``, name ``h`` and popup values ``p``
    (id, households, walk minutes, index of the nearest station in ``refs``, reason)."""
    walk = assessed["walk_min"].to_numpy(dtype=float)
    band = np.searchsorted(np.asarray(limits), walk, side="left")
    band[np.isnan(walk)] = len(limits) + 1
    radius = _radius(assessed["households"])
    points = _is_point(assessed.geometry)
    props = []
    for i, row in enumerate(assessed.itertuples(index=False)):
        name = escape_text(row.name)
        near = row.nearest_station_id
        hh = float(row.households)
        p: dict[str, Any] = {
            "s": int(band[i]),
            "h": name,
            "p": [
                escape_text(row.compound_id),
                None if np.isnan(hh) else round(hh, 1),
                None if np.isnan(walk[i]) else round(float(walk[i]), 2),
                refs.get(near) if isinstance(near, str) else None,
                _reason_text(row, limits[-1], t),
            ],
        }
        if points[i]:
            p["r"] = float(radius[i])
        props.append(p)
    return props


def _compound_layers(
    assessed: gpd.GeoDataFrame,
    station_names: dict[str, str],
    *,
    gcj: bool,
    t: dict[str, str],
) -> tuple[list[DataLayer], list[tuple[str, str]]]:
    """The compounds coloured by walk minutes, and the uncovered ones outlined."""
    limits = _thresholds(assessed)
    bands = _bands(limits, t)
    frame = _wgs84(assessed)
    geoms = shift_round(frame.geometry.values, gcj=gcj)
    ids = sorted(set(frame["nearest_station_id"].dropna().astype(str)))
    refs = {sid: i for i, sid in enumerate(ids)}
    props = _compound_props(frame, refs, limits, t)
    fields = [t["id"], t["households"], t["walk"], t["nearest"], t["reason"]]
    formats = {
        "fmt": [None, "hh", "min", "ref", None],
        "refs": [f"{escape_text(station_names.get(i, i))} ({escape_text(i)})" for i in ids],
        "units": {"hh": t["hh"].split("{h}"), "min": t["min"].split("{m}")},
        "none": t["not_reachable"],
    }
    styles = [
        {
            "color": "#4d4d4d",
            "weight": 0.8,
            "fillColor": colour,
            "fillOpacity": 0.7,
            "radius": 6,
            "className": "cp-compound",
        }
        for colour, _ in bands
    ]
    layers = [
        DataLayer(
            feature_collection(geoms, props),
            name=t["compounds"],
            styles=styles,
            fields=fields,
            tip=2,
            formats=formats,
        )
    ]
    uncovered = ~frame[gaps.covered_column(limits[-1])].to_numpy(dtype=bool)
    if uncovered.any():
        gap_props = [
            dict(p, s=0, r=p.get("r", 6) + 4) for p, u in zip(props, uncovered, strict=True) if u
        ]
        gap_style = {
            "color": _GAP,
            "weight": 3,
            "dashArray": "6 4",
            "fill": False,
            "radius": 10,
            "className": "cp-gap",
        }
        layers.append(
            DataLayer(
                feature_collection(geoms[uncovered], gap_props),
                name=t["gaps"].format(t=_minutes(limits[-1])),
                styles=[gap_style],
                fields=fields,
                tip=4,
                formats=formats,
            )
        )
    return layers, bands


def _station_layer(
    loads: gpd.GeoDataFrame, *, label: str, colour: str, chosen: bool, gcj: bool, t: dict
) -> DataLayer:
    frame = _wgs84(loads)
    geoms = shift_round(frame.geometry.values, gcj=gcj)
    props = []
    for row in frame.itertuples(index=False):
        name = escape_text(row.name)
        served = getattr(row, "households_served", np.nan)
        capacity = getattr(row, "capacity", np.nan)
        reason = str(getattr(row, "reason", "") or "")
        props.append(
            {
                "h": name,
                "p": [
                    escape_text(row.station_id),
                    label,
                    t["hh"].format(h=_num(served, 0)) if pd.notna(served) else "",
                    _num(getattr(row, "compounds_served", np.nan), 0)
                    if pd.notna(getattr(row, "compounds_served", np.nan))
                    else "",
                    t["hh"].format(h=_num(capacity, 0)) if pd.notna(capacity) else "",
                    t["yes"] if bool(getattr(row, "over_capacity", False)) else "",
                    t.get(reason, escape_text(reason)) if reason not in ("", "nan") else "",
                ],
            }
        )
    style = {
        "color": "#ffffff",
        "weight": 2,
        "fillColor": colour,
        "fillOpacity": 0.95,
        "radius": 8 if chosen else 6,
        "className": "cp-station",
    }
    fields = [
        t["id"],
        t["service"],
        t["served"],
        t["compounds_served"],
        t["capacity"],
        t["over"],
        t["station_reason"],
    ]
    return DataLayer(
        feature_collection(geoms, props),
        name=t["stations"].format(label=label, n=len(frame)),
        styles=[style],
        fields=fields,
        tip=1,
    )


def _check_columns(frame: gpd.GeoDataFrame, what: str, needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(
            [
                Problem(
                    f"<{what}>",
                    f"地图图层缺少列 (the {what} layer lacks a column); it has: "
                    f"{', '.join(map(str, frame.columns))}",
                    column=c,
                )
                for c in missing
            ]
        )


def _isochrone_layers(
    iso: gpd.GeoDataFrame,
    *,
    service: str,
    station_ids: set[str],
    limits: list[float],
    gcj: bool,
    t: dict[str, str],
) -> list[DataLayer]:
    _check_columns(iso, "isochrones", ["minutes"])
    if "service" in iso.columns:
        mine = iso[iso["service"].astype(str) == service]
    elif "station_id" in iso.columns:
        mine = iso[iso["station_id"].astype(str).isin(station_ids)]
    else:
        _check_columns(iso, "isochrones", ["station_id"])
        mine = iso
    frame = _wgs84(mine)
    layers = []
    for minutes in sorted(frame["minutes"].unique(), reverse=True):
        part = frame[frame["minutes"] == minutes]
        i = int(np.searchsorted(np.asarray(limits), float(minutes), side="left"))
        colour = _BAND_COLOURS[min(i, len(_BAND_COLOURS) - 1)]
        style = {
            "color": colour,
            "weight": 1.5,
            "fillColor": colour,
            "fillOpacity": 0.12,
            "className": "cp-iso",
        }
        geoms = shift_round(part.geometry.values, gcj=gcj)
        layer = DataLayer(
            feature_collection(geoms, [{} for _ in range(len(part))]),
            name=t["iso"].format(t=_minutes(float(minutes))),
            styles=[style],
            interactive=False,
        )
        layer.colour = colour
        layers.append(layer)
    return layers


def _site_layer(sites: gpd.GeoDataFrame, *, gcj: bool, t: dict[str, str]) -> DataLayer:
    _check_columns(sites, "sites", ["site_id", "rank", "households_added"])
    frame = _wgs84(sites).sort_values("rank")
    geoms = shift_round(frame.geometry.representative_point().values, gcj=gcj)
    props = [
        {
            "l": escape_text(_num(row.rank, 0)),
            "h": t["site"].format(id=escape_text(row.site_id)),
            "p": [
                escape_text(row.site_id),
                escape_text(_num(row.rank, 0)),
                t["hh"].format(h=_num(row.households_added, 0)),
            ],
        }
        for row in frame.itertuples(index=False)
    ]
    style = {
        "color": "#000000",
        "weight": 2,
        "fillColor": _SITE,
        "fillOpacity": 1.0,
        "radius": 10,
        "className": "cp-site",
    }
    return DataLayer(
        feature_collection(geoms, props),
        name=t["sites"].format(n=len(frame)),
        styles=[style],
        fields=[t["id"], t["rank"], t["added"]],
    )


def _network_layer(
    network: WalkNetwork, bounds: np.ndarray, *, gcj: bool, t: dict[str, str]
) -> DataLayer:
    """A light vector basemap from the walk network: major roads thicker, paths thinnest."""
    west, south, east, north = bounds
    pad_x, pad_y = max((east - west) * 0.15, 0.004), max((north - south) * 0.15, 0.003)
    area = shapely.box(west - pad_x, south - pad_y, east + pad_x, north + pad_y)
    edges = network.edges
    geoms = np.asarray(edges.geometry.values)
    inside = shapely.intersects(geoms, area)
    highway = edges["highway"].astype(str).to_numpy()[inside]
    kind = np.where(
        np.isin(highway, list(_MAJOR)), 2, np.where(np.isin(highway, list(_STREET)), 1, 0)
    )
    lines = shapely.simplify(geoms[inside], 5e-6, preserve_topology=False)
    merged = np.array([shapely.multilinestrings(lines[kind == k]) for k in (0, 1, 2)], dtype=object)
    styles = [
        {"color": "#d3cfc6", "weight": 0.9, "opacity": 1},
        {"color": "#c4bfb4", "weight": 1.8, "opacity": 1},
        {"color": "#aaa396", "weight": 3.4, "opacity": 1},
    ]
    props = [{"s": k} for k in (0, 1, 2)]
    return DataLayer(
        feature_collection(shift_round(merged, gcj=gcj), props),
        name=t["none"],
        styles=styles,
        interactive=False,
        canvas=True,
        attribution=t["network_attr"],
        overlay=False,
    )


#: The outline of the map data's extent: thin grey dashes, under every other layer.
_EXTENT_STYLE = {"color": "#555555", "weight": 1.5, "opacity": 0.9, "dashArray": "8 5"}


def _extent_layer(area: shapely.Geometry, *, gcj: bool, t: dict[str, str]) -> DataLayer:
    """The edge of the map data as a thin dashed outline (a layer the planner can hide).

    A gap next to it may be the data's edge, not the streets' (:mod:`coverage.dataedge`).
    """
    outline = np.array([shapely.boundary(area)], dtype=object)
    return DataLayer(
        feature_collection(shift_round(outline, gcj=gcj), [{"s": 0}]),
        name=t["data_extent"],
        styles=[{**_EXTENT_STYLE, "className": "cp-extent"}],
        interactive=False,
    )


def _tile_layers(
    basemap: str, *, key: str | None, lang: str, t: dict[str, str]
) -> list[folium.TileLayer]:
    if basemap == "osm":
        return [
            folium.TileLayer(
                tiles="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                attr='&copy; <a href="https://www.openstreetmap.org/copyright">'
                "OpenStreetMap</a> contributors",
                name=t["osm"],
                max_zoom=19,
            )
        ]
    if basemap == "gaode":
        return [
            folium.TileLayer(
                tiles="https://webrd0{s}.is.autonavi.com/appmaptile?lang="
                + ("en" if lang == "en" else "zh_cn")
                + "&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
                attr="&copy; 高德地图 AutoNavi",
                name=t["gaode"],
                subdomains="1234",
                max_zoom=18,
            )
        ]
    base = "https://t{s}.tianditu.gov.cn/DataServer?T={layer}&x={x}&y={y}&l={z}&tk=" + str(key)
    labels = "eva_w" if lang == "en" else "cva_w"
    attr = "&copy; 天地图 Tianditu"
    return [
        folium.TileLayer(
            tiles=base.replace("{layer}", "vec_w"),
            attr=attr,
            name=t["tianditu"],
            subdomains="01234567",
            max_zoom=18,
        ),
        folium.TileLayer(
            tiles=base.replace("{layer}", labels),
            attr=attr,
            name=t["tianditu_labels"],
            subdomains="01234567",
            max_zoom=18,
            overlay=True,
            control=False,
        ),
    ]


# --------------------------------------------------------------------------------------------
# the map


def _tianditu_key(explicit: str | None, study: Study | None) -> str:
    key = explicit or getattr(study, "tianditu_key", None) or os.environ.get("TIANDITU_KEY")
    if not key:
        raise InputError(
            Problem(
                "<map>",
                "天地图底图需要密钥：在研究文件中写 tianditu_key，或设置环境变量 TIANDITU_KEY "
                "(the Tianditu basemap needs a key: set tianditu_key in the study or the "
                "TIANDITU_KEY environment variable)",
                key="tianditu_key",
            )
        )
    if not re.fullmatch(r"[0-9A-Za-z]{8,64}", key):
        raise InputError(
            Problem(
                "<map>",
                "天地图密钥应为字母和数字 (a Tianditu key is letters and digits only)",
                key="tianditu_key",
            )
        )
    return key


def _check_choice(value: str, choices: Sequence[str], key: str) -> None:
    if value not in choices:
        raise InputError(
            Problem(
                "<map>",
                f"未知的取值 {value!r} (unknown value); choose one of: {', '.join(choices)}",
                key=key,
            )
        )


def _title_html(
    analysis: Analysis,
    *,
    label: str,
    title: str | None,
    data_date: str | None,
    gcj: bool,
    t: dict[str, str],
) -> str:
    rows = [
        f'<div class="cp-name">{escape_text(title or analysis.study_name)}</div>',
        f'<div class="cp-service">{t["title_service"].format(label=label)}</div>',
    ]
    meta = [t["made"].format(d=date.today().isoformat())]
    if data_date:
        meta.insert(0, t["data_date"].format(d=escape_text(data_date)))
    rows.append(f'<div class="cp-meta">{" · ".join(meta)}</div>')
    if analysis.note:
        rows.append(f'<div class="cp-sample">{escape_text(analysis.note)}</div>')
    if gcj:
        rows.append(f'<div class="cp-gcj">{t["gcj"]}</div>')
    return "".join(rows)


def _legend_html(
    *,
    label: str,
    bands: list[tuple[str, str]],
    stations: list[tuple[str, str]],
    iso: list[tuple[str, str]],
    sites: bool,
    circles: bool,
    t: dict[str, str],
    extent: bool = False,
) -> str:
    rows = [f'<div class="cp-h">{t["walk_legend"].format(label=label)}</div>']
    rows += [f'<div><i style="background:{c}"></i>{text}</div>' for c, text in bands]
    if circles:
        rows.append(
            '<div><i class="cp-dot cp-size" style="width:6px;height:6px"></i>'
            '<i class="cp-dot cp-size" style="width:14px;height:14px"></i>'
            f"{t['circles']}</div>"
        )
    rows.append(f'<div><i class="cp-gapkey"></i>{t["gap_legend"]}</div>')
    rows += [f'<div><i style="background:{c};opacity:0.4"></i>{text}</div>' for c, text in iso]
    rows.append(f'<div class="cp-h">{t["stations_legend"]}</div>')
    rows += [
        f'<div><i class="cp-dot" style="background:{c}"></i>{text}</div>' for c, text in stations
    ]
    if sites:
        rows.append(
            f'<div><i class="cp-dot" style="background:{_SITE};box-shadow:0 0 0 2px #000">'
            f"</i>{t['sites_legend']}</div>"
        )
    if extent:
        rows.append(f'<div><i class="cp-extentkey"></i>{t["data_extent_legend"]}</div>')
    return "".join(rows)


def _labels(analysis: Analysis, study: Study | None, lang: str) -> dict[str, str]:
    out = {}
    for key in analysis.services:
        spec = study.services.get(key) if study is not None else None
        text = key if spec is None else (spec.label_en if lang == "en" else spec.label_zh)
        out[key] = escape_text(text)
    return out


def coverage_map(
    analysis: Analysis,
    *,
    study: Study | None = None,
    network: WalkNetwork | None = None,
    service: str | None = None,
    basemap: str = "osm",
    lang: str | None = None,
    isochrones: gpd.GeoDataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
    tianditu_key: str | None = None,
    data_date: str | None = None,
    title: str | None = None,
    data_extent: shapely.Geometry | None = None,
) -> folium.Map:
    """Draw the coverage of one service type as an interactive map.

    Parameters
    ----------
    analysis
        The result of :func:`coverage.pipeline.analyze`.
    study
        The study: service labels, language, ``tianditu_key`` and ``data_date``.
    network
        The walk network; drawn as the basemap when ``basemap="none"``.
    service
        Service key whose walk minutes colour the compounds; default the first one. Stations
        of every service type are drawn.
    basemap
        ``"osm"`` (OpenStreetMap tiles), ``"tianditu"`` (天地图; key from ``tianditu_key``,
        the study or the ``TIANDITU_KEY`` environment variable), ``"gaode"`` (高德; every
        layer is shifted WGS-84 -> GCJ-02 to line up with its tiles, and the map says so)
        or ``"none"`` (no tiles: the walk network drawn as a light vector basemap).
    lang
        ``"zh"`` or ``"en"``; default the study's language, else Chinese.
    isochrones
        Walk-time areas: ``minutes``, ``station_id`` or ``service``, geometry (WGS-84).
        Default: the analysis' own dissolved circles of the service, when it made them.
    sites
        Proposed sites: ``site_id``, ``rank``, ``households_added``, geometry.
    tianditu_key
        Tianditu key (overrides the study and the environment).
    data_date
        Date of the data shown in the title (default the study's ``data_date``, if any).
    title
        Map title; default the study name.
    data_extent
        The area the map data covers (WGS-84), drawn as a thin dashed outline, the layer
        "地图数据范围 (map data extent)", so a gap at the edge shows as the data's edge.
        Default: the network's (:func:`coverage.dataedge.data_extent`), when it is given
        (whatever the basemap).

    Returns
    -------
    folium.Map
        Displays inline in Jupyter; :func:`write_map` writes it as one self-contained file.

    Raises
    ------
    InputError
        Unknown service or basemap, no Tianditu key, isochrones or sites lacking columns.
    """
    language = lang or (study.language if study is not None else "zh")
    _check_choice(language, tuple(_TEXT), "lang")
    _check_choice(basemap, BASEMAPS, "basemap")
    key = service if service is not None else next(iter(analysis.services))
    _check_choice(key, tuple(analysis.services), "service")
    t = _TEXT[language]
    gcj = basemap == "gaode"
    labels = _labels(analysis, study, language)
    result = analysis.services[key]
    if isochrones is None:
        isochrones = getattr(result, "circles", None)

    m = CoverageMap(location=None, tiles=None, zoom_control=False)
    bounds = np.asarray(_wgs84(result.assessed).total_bounds, dtype=float)
    for frame in [r.loads for r in analysis.services.values()] + [sites, isochrones]:
        if frame is not None and len(frame):
            b = np.asarray(_wgs84(frame).total_bounds, dtype=float)
            bounds = np.array([*np.fmin(bounds[:2], b[:2]), *np.fmax(bounds[2:], b[2:])])
    # set the view before any layer is added: a later fitBounds redraws every feature
    if np.isfinite(bounds).all():
        corners = shift_round(shapely.points([bounds[:2], bounds[2:]]), gcj=gcj)
        (west, south), (east, north) = (p.coords[0] for p in corners)
        m.fit_bounds([[south, west], [north, east]], padding=(10, 10))
    if basemap == "none":
        if network is not None:
            _network_layer(network, bounds, gcj=gcj, t=t).add_to(m)
        else:
            log.info("basemap 'none' without a network: the map has a plain background")
    else:
        tk = _tianditu_key(tianditu_key, study) if basemap == "tianditu" else None
        for tile in _tile_layers(basemap, key=tk, lang=language, t=t):
            tile.add_to(m)

    if data_extent is None and network is not None:
        data_extent = dataedge.data_extent(network)
    if data_extent is not None:
        _extent_layer(data_extent, gcj=gcj, t=t).add_to(m)

    limits = _thresholds(result.assessed)
    iso_layers: list[DataLayer] = []
    if isochrones is not None and len(isochrones):
        ids = set(result.loads["station_id"].astype(str))
        iso_layers = _isochrone_layers(
            isochrones, service=key, station_ids=ids, limits=limits, gcj=gcj, t=t
        )
        for layer in iso_layers:
            layer.add_to(m)
    names = dict(zip(result.loads["station_id"], result.loads["name"], strict=True))
    compound_layers, bands = _compound_layers(result.assessed, names, gcj=gcj, t=t)
    for layer in compound_layers:
        layer.add_to(m)
    colours = {k: _STATION_COLOURS[i % len(_STATION_COLOURS)] for i, k in enumerate(labels)}
    for k in [k for k in analysis.services if k != key] + [key]:
        _station_layer(
            analysis.services[k].loads,
            label=labels[k],
            colour=colours[k],
            chosen=k == key,
            gcj=gcj,
            t=t,
        ).add_to(m)
    if sites is not None and len(sites):
        _site_layer(sites, gcj=gcj, t=t).add_to(m)

    folium.LayerControl(collapsed=True).add_to(m)
    data_date = data_date or getattr(study, "data_date", None)
    Decor(
        title_html=_title_html(
            analysis, label=labels[key], title=title, data_date=data_date, gcj=gcj, t=t
        ),
        legend_html=_legend_html(
            label=labels[key],
            bands=bands,
            stations=[(colours[k], labels[k]) for k in labels],
            iso=[(lay.colour, lay.layer_name) for lay in reversed(iso_layers)],
            sites=sites is not None and len(sites) > 0,
            circles=bool((result.assessed.geom_type == "Point").any()),
            t=t,
            extent=data_extent is not None,
        ),
        nobase=basemap == "none",
        t=t,
    ).add_to(m)
    figure = m.get_root()
    assert isinstance(figure, Figure)
    figure.title = escape_text(title or analysis.study_name)
    return m


def map_html(m: folium.Map) -> str:
    """Return the map's page as one self-contained HTML text.

    Parameters
    ----------
    m
        A map from :func:`coverage_map`.

    Returns
    -------
    str
    """
    root = m.get_root()
    assert isinstance(root, Figure)
    return root.render()


def write_map(m: folium.Map, path: str | Path) -> Path:
    """Write the map as one self-contained HTML file, atomically.

    Parameters
    ----------
    m
        A map from :func:`coverage_map`.
    path
        The ``.html`` file to write.

    Returns
    -------
    Path
    """
    path = Path(path)
    text = map_html(m)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
