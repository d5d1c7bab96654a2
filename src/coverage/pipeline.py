"""Run a study end to end: orchestration only, no analysis logic of its own.

Each step is a function a planner can call on its own in Jupyter::

    study = load_study("study.toml")
    net = network_for_study(study)
    inputs = load_inputs(study, network=net)
    analysis = analyze(study, net, inputs)
    write_analysis(analysis, "reports/my-study")
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from coverage import gaps, inputs, isochrones, network, osmdata, snap, travel
from coverage._atomic import atomic_path
from coverage.config import Study
from coverage.errors import CoverageWarning, InputError, Problem
from coverage.network import WalkNetwork

__all__ = [
    "Analysis",
    "ServiceResult",
    "StudyInputs",
    "analyze",
    "default_cache_dir",
    "group_columns",
    "load_inputs",
    "network_for_study",
    "read_layers",
    "study_area",
    "write_analysis",
]

log = logging.getLogger(__name__)

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class StudyInputs:
    """The validated input layers of a study (all WGS-84).

    Attributes
    ----------
    compounds
        Compounds (given by the user or derived from OSM).
    stations
        Station layers by service key.
    candidates
        Candidate sites for new stations, when the study gives them.
    entrances
        OSM entrances and gates (points) used as compound access points; may be empty.
    """

    compounds: gpd.GeoDataFrame
    stations: dict[str, gpd.GeoDataFrame]
    candidates: gpd.GeoDataFrame | None = None
    entrances: gpd.GeoDataFrame | None = None


@dataclass(frozen=True)
class ServiceResult:
    """Coverage of one service type.

    Attributes
    ----------
    assessed
        One row per compound (see :func:`coverage.gaps.assess_coverage`).
    loads
        One row per station (see :func:`coverage.gaps.station_load`).
    gaps
        Uncovered compounds ranked by households left out.
    summary
        Households and compounds covered per threshold: overall, then per group of every
        grouping level (see :func:`group_columns`).
    circles
        The dissolved walk-time circles, one per threshold (see
        :func:`coverage.isochrones.isochrones`); ``None`` when not asked for.
    """

    assessed: gpd.GeoDataFrame
    loads: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    summary: pd.DataFrame
    circles: gpd.GeoDataFrame | None = None


@dataclass(frozen=True)
class Analysis:
    """Results of :func:`analyze` for every service type of a study."""

    study_name: str
    services: dict[str, ServiceResult]
    summary: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


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
        Rebuild even when a cached copy exists.

    Returns
    -------
    WalkNetwork
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir(study)
    return network.load_network(study.network, cache_dir=folder, refresh=refresh)


def _osm_features(study: Study, area: BBox | None) -> osmdata.OsmFeatures:
    src = study.network
    if src.osm_file is not None:
        return osmdata.read_osm_features(src.osm_file)
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

    return osmdata.osm_features_from_polygon(
        box(*area), http_cache_dir=default_cache_dir(study) / "osmnx-http"
    )


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
        files = sorted({p.file for p in problems})
        raise InputError(
            problems,
            header=f"输入数据有 {len(problems)} 个问题 / {len(problems)} problem(s) in "
            f"{', '.join(files)}:",
        )
    return compounds, stations, candidates


def load_inputs(study: Study, *, network: WalkNetwork | None = None) -> StudyInputs:
    """Read and validate every input layer; derive compounds from OSM when none is given.

    Parameters
    ----------
    study
        The study.
    network
        The walk network, when already loaded: its extent is the study area used to catch
        points far outside it.

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
    if compounds is None or (
        study.network.osm_file is not None
        and bool(compounds.geom_type.isin(["Polygon", "MultiPolygon"]).any())
    ):
        features = _osm_features(study, area)
        entrances = features.entrances
    if compounds is None:
        assert features is not None
        compounds = osmdata.compounds_from_osm(features, estimation=study.estimation)
        log.info("derived %d compounds from OSM (households estimated)", len(compounds))
    return StudyInputs(compounds, stations, candidates, entrances)


# usual grouping columns of Chinese compound tables, coarse to fine (one per level)
GROUP_LEVELS: tuple[tuple[str, ...], ...] = (
    ("district", "区县", "区", "县", "county"),
    ("street", "街道", "街道办", "乡镇", "subdistrict", "town"),
    ("community", "社区", "村", "居委会", "村委会"),
)


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
        ``study.group_by``, or the usual columns found (district/区县, street/街道,
        community/社区; at most one of each, matched case-insensitively).

    Raises
    ------
    InputError
        A ``group_by`` column is not in the compound layer.
    """
    if study.group_by:
        missing = [c for c in study.group_by if c not in compounds.columns]
        if missing:
            source = str(study.compounds.path) if study.compounds else "<OSM>"
            raise InputError(
                [
                    Problem(
                        source,
                        "研究文件 group_by 中的列不存在 (the study's group_by column is not in "
                        f"the compound layer); available: {', '.join(map(str, compounds.columns))}",
                        column=c,
                    )
                    for c in missing
                ]
            )
        return list(study.group_by)
    lower = {str(c).strip().lower(): c for c in compounds.columns}
    found = []
    for names in GROUP_LEVELS:
        hit = next((lower[n] for n in names if n in lower), None)
        if hit is not None:
            found.append(hit)
    return found


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
    origins = snap.snap_study_compounds(study, data.compounds, net, entrances=data.entrances)
    results: dict[str, ServiceResult] = {}
    for key, service in study.services.items():
        t0 = time.perf_counter()
        profile = study.profiles[service.profile]
        stations = data.stations[key]
        # each layer is snapped once and reused by every step below
        placed = snap.snap_layer(stations, net, id_column="station_id", max_snap_m=study.max_snap_m)
        nearest = travel.nearest_station(
            origins, placed, net, profile=profile, with_access_point=True
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
            assessed, snap.access_table(origins, nearest["access_index"].to_numpy())
        )
        # stations the walk network does not reach are kept in the loads, flagged
        flagged = stations.assign(reason=placed.reason)
        loads = gaps.station_load(
            assessed, flagged, minutes=service.minutes, capacity=service.capacity, service=key
        )
        ranked = gaps.rank_gaps(assessed)
        summary = _summaries(assessed, service, by)
        dissolved = None
        if circles:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CoverageWarning)  # reported above
                dissolved = isochrones.isochrones(
                    net,
                    placed,
                    profile=profile,
                    minutes=service.minutes,
                    mode="dissolve",
                    frontage_m=study.frontage_m,
                    fill_holes_m2=study.fill_holes_m2,
                    compounds=data.compounds,
                    snapped=origins,
                    weight_column=service.weight_column,
                    service=key,
                    max_snap_m=study.max_snap_m,
                )
        results[key] = ServiceResult(assessed, loads, ranked, summary, dissolved)
        log.info(
            "%s: analysed %d compounds against %d stations in %.1f s",
            key,
            len(assessed),
            len(stations),
            time.perf_counter() - t0,
        )
    # the overall rows of each service's summary: summarising every table again cost ~0.1 s
    totals = gaps.summary_dict_from_summaries(
        {k: r.summary for k, r in results.items()}, study.services
    )
    return Analysis(study.name, results, totals, study.note)


def _with_access(assessed: gpd.GeoDataFrame, table: pd.DataFrame) -> gpd.GeoDataFrame:
    """The access columns placed after ``minutes_short`` (rows are in compound order)."""
    out = assessed.copy()
    at = out.columns.get_loc("minutes_short") + 1
    for i, col in enumerate(table.columns):
        out.insert(at + i, col, table[col].to_numpy())
    return out


def _stack(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(list(frames.values()), ignore_index=True) if frames else pd.DataFrame()


def write_analysis(analysis: Analysis, out_dir: str | Path) -> list[Path]:
    """Write the analysis tables: CSV, JSON summary and a GeoPackage, each atomically.

    Parameters
    ----------
    analysis
        The result of :func:`analyze`.
    out_dir
        Output folder (created when missing).

    Returns
    -------
    list of Path
        The files written: ``compounds.csv``, ``stations.csv``, ``gaps.csv``,
        ``summary.csv`` (overall and per group: district, street, community),
        ``summary.json`` and ``coverage.gpkg`` (with the dissolved walk-time circles of
        every service as the layer ``circles`` when the analysis has them).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    assessed = _stack({k: r.assessed for k, r in analysis.services.items()})
    loads = _stack({k: r.loads for k, r in analysis.services.items()})
    ranked = _stack({k: r.gaps for k, r in analysis.services.items()})
    summary = _stack({k: r.summary for k, r in analysis.services.items()})
    written: list[Path] = []
    tables = (("compounds", assessed), ("stations", loads), ("gaps", ranked), ("summary", summary))
    for name, frame in tables:
        path = out / f"{name}.csv"
        with atomic_path(path) as tmp:
            table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
            # CSVs are read by people (Excel/WPS): minutes and areas to 2 decimals;
            # the GeoPackage keeps full precision
            floats = table.select_dtypes("float").columns
            table[floats] = table[floats].round(2)
            table.to_csv(tmp, index=False, encoding="utf-8-sig")
        written.append(path)
    path = out / "summary.json"
    with atomic_path(path) as tmp:
        payload: dict[str, Any] = {"study": analysis.study_name}
        if analysis.note:
            payload["note"] = analysis.note
        payload["services"] = analysis.summary
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    written.append(path)
    path = out / "coverage.gpkg"
    with atomic_path(path) as tmp:
        for name, frame in (("compounds", assessed), ("stations", loads), ("gaps", ranked)):
            if len(frame):
                gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)
                gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", use_arrow=True)
        circles = [r.circles for r in analysis.services.values() if r.circles is not None]
        if circles:
            layer = gpd.GeoDataFrame(pd.concat(circles, ignore_index=True), crs=4326)
            layer.to_file(tmp, layer="circles", driver="GPKG", engine="pyogrio", use_arrow=True)
    written.append(path)
    return written
