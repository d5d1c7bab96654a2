"""Run a study end to end: orchestration only, no analysis logic of its own.

Each step is a function a planner can call on its own in Jupyter::

    study = load_study("study.toml")
    net = network_for_study(study)
    inputs = load_inputs(study, network=net)
    analysis = analyze(study, net, inputs)
    write_analysis(analysis, "reports/my-study")
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from coverage import dataedge, estimates, gaps, inputs, isochrones, network, osmdata, snap, travel
from coverage.config import Study
from coverage.errors import CoverageWarning, FarFromNetworkWarning, InputError, Problem
from coverage.labels import pick
from coverage.layer_files import row_note
from coverage.network import WalkNetwork
from coverage.osmcache import cached_osm_features, cached_osm_frames, clear_osm_cache
from coverage.outputs import write_analysis  # re-exported: coverage.pipeline.write_analysis
from coverage.results import Analysis, ServiceResult, StudyInputs

__all__ = [
    "Analysis",
    "ServiceResult",
    "StudyInputs",
    "analyze",
    "default_cache_dir",
    "group_columns",
    "load_inputs",
    "network_for_study",
    "osm_features_for_study",
    "read_layers",
    "study_area",
    "write_analysis",
]

log = logging.getLogger(__name__)

BBox = tuple[float, float, float, float]


def default_cache_dir(study: Study) -> Path:
    """Return the study's cache folder (``cache_dir`` key, else ``./data/processed``)."""
    return study.cache_dir if study.cache_dir is not None else Path("data") / "processed"


def study_area(study: Study, *, network: WalkNetwork | None = None) -> BBox | None:
    """Return the study area as a WGS-84 bbox ``(west, south, east, north)``, when known.

    Parameters
    ----------
    study
        The study.
    network
        The walk network; when given its extent is the study area.

    Returns
    -------
    tuple or None
        ``None`` when the area cannot be known without downloading (a place name).
    """
    if network is not None and len(network.nodes):
        n = network.nodes
        return (float(n.lon.min()), float(n.lat.min()), float(n.lon.max()), float(n.lat.max()))
    src = study.network
    if src.bbox is not None:
        return src.bbox
    if src.polygon is not None:
        b = gpd.read_file(src.polygon).to_crs(4326).total_bounds
        return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
    if src.osm_file is not None:
        return osmdata.osm_file_bounds(src.osm_file)
    return None


def network_for_study(
    study: Study, *, cache_dir: str | Path | None = None, refresh: bool = False
) -> WalkNetwork:
    """Load the study's walk network, from the cache when it is there.

    Parameters
    ----------
    study
        The study.
    cache_dir
        Cache folder; default :func:`default_cache_dir`.
    refresh
        Rebuild even when a cached copy exists (for an ``osm_file``, the cached OSM features
        of :func:`osm_features_for_study` are dropped too and read again when next needed).

    Returns
    -------
    WalkNetwork
        For online sources, the area downloaded is the study's enlarged by its walk reach
        (:func:`coverage.dataedge.walk_reach_m`).
    """
    folder = _cache_folder(study, cache_dir)
    if refresh and study.network.osm_file is not None:
        clear_osm_cache(study.network.osm_file, cache_dir=folder)
    # online sources are downloaded beyond the study area by the walk reach
    margin = dataedge.walk_reach_m(study)
    return network.load_network(study.network, cache_dir=folder, refresh=refresh, margin_m=margin)


def _cache_folder(study: Study, cache_dir: str | Path | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else default_cache_dir(study)


def osm_features_for_study(
    study: Study, *, cache_dir: str | Path | None = None
) -> osmdata.OsmFeatures:
    """Return the OSM features of the study's ``osm_file``, from the cache when it is there.

    Parameters
    ----------
    study
        The study; its network must come from an ``osm_file``.
    cache_dir
        Cache folder; default :func:`default_cache_dir`. See :mod:`coverage.osmcache`.

    Returns
    -------
    OsmFeatures
        Equal to ``osmdata.read_osm_features(study.network.osm_file)``.

    Raises
    ------
    InputError
        The study has no ``osm_file``, or it cannot be read.
    """
    if study.network.osm_file is None:
        raise InputError(
            Problem(
                str(study.path or "<study>"),
                "研究的路网不是本地 OSM 文件 (the study's network is not an osm_file)",
                key="network.osm_file",
            )
        )
    folder = _cache_folder(study, cache_dir)
    return cached_osm_features(study.network.osm_file, cache_dir=folder)


def _osm_features(study: Study, area: BBox | None, cache_dir: Path) -> osmdata.OsmFeatures:
    src = study.network
    if src.osm_file is not None:
        return cached_osm_features(src.osm_file, cache_dir=cache_dir)
    if area is None:
        raise InputError(
            Problem(
                str(study.path or "<study>"),
                "无法确定研究范围，不能从 OSM 推导小区；请在研究文件中提供 compounds 图层 "
                "(cannot derive compounds from OSM without a known study area; give a "
                "compounds layer)",
                key="compounds",
            )
        )
    from shapely.geometry import box

    return osmdata.osm_features_from_polygon(box(*area), http_cache_dir=cache_dir / "osmnx-http")


def read_layers(
    study: Study, *, area: BBox | None = None
) -> tuple[gpd.GeoDataFrame | None, dict[str, gpd.GeoDataFrame], gpd.GeoDataFrame | None]:
    """Read and validate the study's own layer files (nothing from OSM).

    Problems in all layers are gathered and raised together.

    Parameters
    ----------
    study
        The study.
    area
        The study area (WGS-84 bbox) used to catch points far outside it.

    Returns
    -------
    tuple
        ``(compounds or None when the study gives none, stations by service, candidates or
        None)``.

    Raises
    ------
    InputError
        Listing every problem of every layer, each naming the file, row and column.
    """
    problems: list[Problem] = []
    compounds: gpd.GeoDataFrame | None = None
    if study.compounds is not None:
        try:
            compounds = inputs.load_compounds(study.compounds, study_area=area)
        except InputError as exc:
            problems += exc.problems
    stations: dict[str, gpd.GeoDataFrame] = {}
    for key, service in study.services.items():
        try:
            stations[key] = inputs.load_stations(service.stations, service=key, study_area=area)
        except InputError as exc:
            problems += exc.problems
    candidates = None
    if study.candidates is not None:
        try:
            candidates = inputs.load_candidates(study.candidates, study_area=area)
        except InputError as exc:
            problems += exc.problems
    if problems:
        problems = list(dict.fromkeys(problems))  # a file shared by two services: once
        files = ", ".join(sorted({p.file for p in problems}))
        # the layers' messages are in their language (the study's, or the command's --lang)
        specs = [study.compounds, *(s.stations for s in study.services.values())]
        lang = next((s.language for s in specs if s is not None), study.language)
        count = len(problems)
        raise InputError(
            problems,
            header=pick(
                f"输入数据有 {count} 个问题 / {count} problem(s) in {files}",
                f"{count} problem(s) in {files}",
                lang,
            )
            + f"{row_note(problems, lang=lang)}:",
        )
    return compounds, stations, candidates


def load_inputs(
    study: Study, *, network: WalkNetwork | None = None, cache_dir: str | Path | None = None
) -> StudyInputs:
    """Read and validate every input layer; derive compounds from OSM when none is given.

    Derived households are estimates: a :class:`~coverage.errors.CoverageWarning` says when
    they look far too low for the area (:func:`coverage.estimates.check_derived_households`).

    Parameters
    ----------
    study
        The study.
    network
        The walk network, when already loaded: its extent is the study area used to catch
        points far outside it.
    cache_dir
        Cache folder of the OSM features read from the study's ``osm_file`` (only the
        frames needed: the entrances when the study gives polygon compounds); default
        :func:`default_cache_dir`. See :mod:`coverage.osmcache`.

    Returns
    -------
    StudyInputs

    Raises
    ------
    InputError
        Listing every problem of every layer, each naming the file, row and column.
    """
    area = study_area(study, network=network)
    compounds, stations, candidates = read_layers(study, area=area)
    entrances: gpd.GeoDataFrame | None = None
    features: osmdata.OsmFeatures | None = None
    folder = _cache_folder(study, cache_dir)
    if compounds is None:
        features = _osm_features(study, area, folder)
        entrances = features.entrances
    elif study.network.osm_file is not None and bool(
        compounds.geom_type.isin(["Polygon", "MultiPolygon"]).any()
    ):
        frames = cached_osm_frames(study.network.osm_file, ["entrances"], cache_dir=folder)
        entrances = frames["entrances"]
    if compounds is None:
        assert features is not None
        compounds = osmdata.compounds_from_osm(features, estimation=study.estimation)
        log.info("derived %d compounds from OSM (households estimated)", len(compounds))
        estimates.check_derived_households(
            compounds,
            mapped_buildings=len(features.buildings),
            built_up_m2=None if network is None else estimates.built_up_area_m2(network),
            lang=study.language,
        )
    return StudyInputs(compounds, stations, candidates, entrances)


def group_columns(study: Study, compounds: gpd.GeoDataFrame) -> list[str]:
    """Return the compound columns coverage is broken down by, coarse to fine.

    Parameters
    ----------
    study
        The study; its ``group_by`` list wins when given.
    compounds
        The compounds.

    Returns
    -------
    list of str
        See :func:`coverage.gaps.group_columns`.

    Raises
    ------
    InputError
        A ``group_by`` column is not in the compound layer.
    """
    source = str(study.compounds.path) if study.compounds else "<OSM>"
    return gaps.group_columns(compounds, group_by=study.group_by, source=source)


def _summaries(assessed: gpd.GeoDataFrame, service: Any, by: list[str]) -> pd.DataFrame:
    """Overall rows, then the groups of every level (district, district+street, ...)."""
    opts = {"minutes": service.minutes, "service": service.key}
    parts = [gaps.summarize_coverage(assessed, **opts)]
    for i in range(len(by)):
        levels = gaps.summarize_coverage(assessed, by=by[: i + 1], **opts)
        parts.append(levels[levels["scope"] == "group"])
    return pd.concat(parts, ignore_index=True)


def analyze(study: Study, net: WalkNetwork, data: StudyInputs, *, circles: bool = True) -> Analysis:
    """Compute walk times, coverage, station loads and gaps for every service type.

    The compounds' access points are derived and snapped onto the network once
    (:func:`coverage.snap.snap_compounds`) and reused by every service type and profile;
    each station layer is snapped once (:func:`coverage.snap.snap_layer`) and reused by the
    nearest-station, walk-time and station-load steps.

    Parameters
    ----------
    study
        The study (service types, thresholds, profiles).
    net
        The walk network.
    data
        The validated inputs.
    circles
        Also make each service's dissolved walk-time circles (households on them from the
        same walk times as the tables).

    Returns
    -------
    Analysis
    """
    by = group_columns(study, data.compounds)
    # each station layer is snapped once and reused by every step below
    placed_all = {
        key: snap.snap_layer(
            data.stations[key], net, id_column="station_id", max_snap_m=study.max_snap_m
        )
        for key in study.services
    }
    # the stations' Dijkstra runs were measured on a thread beside the compounds' access rules
    # (shapely, GIL free): SciPy's dijkstra holds the GIL for a whole run and stalls the
    # access rules' threads, no gain (docs/benchmarks.md, "speed session 4")
    origins = snap.snap_study_compounds(study, data.compounds, net, entrances=data.entrances)
    results, far = _services(study, net, data, origins, placed_all, by, circles)
    warn_far_stations(study, far)
    _warn_data_edge(study, results)
    # the overall rows of each service's summary: summarising every table again cost ~0.1 s
    totals = gaps.summary_dict_from_summaries(
        {k: r.summary for k, r in results.items()}, study.services
    )
    return Analysis(study.name, results, totals, study.note, study.language)


def _services(
    study: Study,
    net: WalkNetwork,
    data: StudyInputs,
    origins: snap.SnappedPoints,
    placed_all: dict[str, snap.SnappedPoints],
    by: list[str],
    circles: bool,
) -> tuple[dict[str, ServiceResult], dict[str, gpd.GeoDataFrame]]:
    """Every service's tables (the body of :func:`analyze`)."""
    at_edge = dataedge.edge_position(data.compounds, net)
    cut_pieces: Any = None  # which compounds sit on ways the data's edge cuts: when needed
    results: dict[str, ServiceResult] = {}
    far: dict[str, gpd.GeoDataFrame] = {}
    for key, service in study.services.items():
        t0 = time.perf_counter()
        profile = study.profiles[service.profile]
        stations = data.stations[key]
        placed = placed_all[key]
        with warnings.catch_warnings():
            # stations far from the network: one warning for the whole study, below
            warnings.simplefilter("ignore", FarFromNetworkWarning)
            nearest = travel.nearest_station(
                origins,
                placed,
                net,
                profile=profile,
                with_access_point=True,
            )
        with warnings.catch_warnings():
            # the same stations far from the network were just reported by nearest_station
            warnings.simplefilter("ignore", CoverageWarning)
            within = travel.walk_times(
                origins, placed, net, profile=profile, limit_min=max(service.minutes)
            )
        assessed = gaps.assess_coverage(
            data.compounds,
            nearest,
            within,
            minutes=service.minutes,
            weight_column=service.weight_column,
            service=key,
        )
        assessed = _with_access(
            assessed,
            snap.access_table(
                origins,
                nearest["access_index"].to_numpy(),
                x=nearest["access_x"].to_numpy(),
                y=nearest["access_y"].to_numpy(),
            ),
        )
        reach = dataedge.service_reach_m(study, key)
        if cut_pieces is None and (assessed["reason"] == "unreachable").any():
            cut_pieces = dataedge.pieces_at_edge(origins, net, tolerance_m=study.max_snap_m)
        assessed = dataedge.mark_outside_network_data(
            assessed, at_edge, reach_m=reach, max_snap_m=study.max_snap_m, at_edge_piece=cut_pieces
        )
        # stations the walk network does not reach are kept in the loads, flagged
        flagged = dataedge.mark_outside_network_data(
            stations.assign(reason=placed.reason),
            dataedge.edge_position(stations, net),
            reach_m=reach,
            max_snap_m=study.max_snap_m,
        )
        # far from the network, but not because the map data ends: warned about below
        far[key] = stations[
            ~placed.snapped & (flagged["reason"] != dataedge.OUTSIDE_REASON).to_numpy()
        ]
        loads = gaps.station_load(
            assessed, flagged, minutes=service.minutes, capacity=service.capacity, service=key
        )
        ranked = gaps.rank_gaps(assessed)
        summary = _summaries(assessed, service, by)
        dissolved = None
        if circles:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CoverageWarning)  # reported above
                dissolved = isochrones.study_circles(
                    study, key, net, placed, data.compounds, origins=origins
                )
        results[key] = ServiceResult(assessed, loads, ranked, summary, dissolved)
        log.info(
            "%s: analysed %d compounds against %d stations in %.1f s",
            key,
            len(assessed),
            len(stations),
            time.perf_counter() - t0,
        )
    return results, far


def warn_far_stations(study: Study, far: dict[str, gpd.GeoDataFrame]) -> None:
    """Warn once about the stations too far from any walkable way, naming each by id and name.

    Parameters
    ----------
    study
        The study (service labels, ``max_snap_m``, language).
    far
        Per service key: its stations (``station_id``, ``name``) that were left out.

    Warns
    -----
    FarFromNetworkWarning
        One warning for all services; a station layer shared by several services is listed
        once with their labels.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for key, rows in far.items():
        if len(rows):
            names = rows["name"].astype(str).to_numpy() if "name" in rows else rows["station_id"]
            listed = tuple(
                " ".join(dict.fromkeys((str(i), str(n))))
                for i, n in zip(rows["station_id"], names, strict=True)
            )
            service = study.services[key]
            label = service.label_en if study.language == "en" else service.label_zh
            groups.setdefault(listed, []).append(label)
    if not groups:
        return
    count = len({s for listed in groups for s in listed})
    parts = []
    for listed, services in groups.items():
        shown = ", ".join(listed[:20]) + (f" ... ({len(listed)})" if len(listed) > 20 else "")
        parts.append(f"{'/'.join(services)}: {shown}")
    m = f"{study.max_snap_m:g}"
    shown_all = "; ".join(parts)
    fix = (
        "check their coordinates and the coords setting, or raise max_snap_m in the study "
        "file; stations.csv gives them reason far_from_network"
    )
    warnings.warn(
        pick(
            f"{count} 个站点距步行道路超过 {m} 米，未参与计算 ({count} station(s) farther than "
            f"{m} m from any walkable way were left out): {shown_all}. 请核对其坐标及坐标系设置 "
            f"coords，或调大研究文件的 max_snap_m；stations.csv 中它们的原因 (reason) 为 "
            f"far_from_network ({fix})",
            f"{count} station(s) farther than {m} m from any walkable way were left out: "
            f"{shown_all}. Check their coordinates and the coords setting, or raise max_snap_m in "
            "the study file; stations.csv gives them reason far_from_network",
            study.language,
        ),
        FarFromNetworkWarning,
        stacklevel=3,
    )


def _warn_data_edge(study: Study, results: dict[str, ServiceResult]) -> None:
    """One warning for the compounds and stations beyond the edge of the map data."""
    outside = dataedge.OUTSIDE_REASON
    compounds: list[str] = []
    stations: list[str] = []
    for r in results.values():
        hit = r.assessed[r.assessed["reason"] == outside]
        compounds += [f"{n} ({i})" for n, i in zip(hit["name"], hit["compound_id"], strict=True)]
        hit = r.loads[r.loads["reason"] == outside] if "reason" in r.loads else r.loads.iloc[:0]
        stations += [f"{n} ({i})" for n, i in zip(hit["name"], hit["station_id"], strict=True)]
    dataedge.warn_outside_network_data(
        compounds, stations, reach_m=dataedge.walk_reach_m(study), lang=study.language
    )


def _with_access(assessed: gpd.GeoDataFrame, table: pd.DataFrame) -> gpd.GeoDataFrame:
    """The access columns placed after ``minutes_short`` (rows are in compound order)."""
    out = assessed.copy()
    at = out.columns.get_loc("minutes_short") + 1
    for i, col in enumerate(table.columns):
        out.insert(at + i, col, table[col].to_numpy())
    return out
