"""Siting new stations for one service of a study: candidates, walk times, model, outputs.

Each step is a library call a planner can run on its own in Jupyter::

    study = load_study("study.toml")
    net = network_for_study(study)
    data = load_inputs(study, network=net)
    result = site_service(study, net, data, service="party_station", new=5)
    write_siting(result, "reports/siting")

The compounds are snapped once (:func:`coverage.snap.snap_compounds`); the candidates' and the
existing stations' walk times come from :func:`coverage.travel.walk_times` and
:func:`coverage.travel.to_sparse`, the nearest existing station from
:func:`coverage.travel.nearest_station`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage import candidates as cand
from coverage import siting, snap, travel
from coverage._atomic import atomic_path
from coverage.config import Profile, Study
from coverage.errors import CoverageWarning, InputError, Problem
from coverage.network import WalkNetwork
from coverage.snap import SnappedCompounds

__all__ = [
    "MODELS",
    "SitingResult",
    "gather_candidates",
    "site_service",
    "siting_times",
    "write_siting",
]

log = logging.getLogger(__name__)

#: Model names accepted by :func:`site_service` (and ``coverage-planner site --model``).
MODELS: tuple[str, ...] = ("max-coverage", "min-stations", "min-walk", "capacitated")


def siting_times(
    compounds: gpd.GeoDataFrame | SnappedCompounds,
    weights: np.ndarray,
    candidates: gpd.GeoDataFrame | snap.SnappedPoints,
    stations: gpd.GeoDataFrame | None,
    network: WalkNetwork,
    *,
    profile: Profile,
    limit_min: float,
    max_snap_m: float = 300.0,
    existing: siting.SitingTimes | None = None,
) -> siting.SitingTimes:
    """Walk times from every compound to the candidates and the existing stations.

    Parameters
    ----------
    compounds
        The compound layer, or the compounds snapped once by
        :func:`coverage.snap.snap_compounds` (the fast way).
    weights
        Households per compound (same order).
    candidates
        Usable candidates (``candidate_id``, point geometry), or the candidates already
        snapped by :func:`coverage.snap.snap_layer` (snapped once: the fast way).
    stations
        Existing stations (``station_id``, ``capacity``), or ``None``.
    network
        The walk network.
    profile
        Travel profile.
    limit_min
        Pairs within this many minutes are kept.
    max_snap_m
        Snapping distance for the candidates and stations.
    existing
        Times from an earlier call with the same compounds, stations and limit: their
        existing-station part is reused.

    Returns
    -------
    coverage.siting.SitingTimes
    """
    if not isinstance(compounds, SnappedCompounds):
        compounds = snap.snap_compounds(compounds, network, max_snap_m=max_snap_m)
    ids = list(compounds.compound_ids)
    n = len(ids)
    cand_ids = (
        candidates.ids
        if isinstance(candidates, snap.SnappedPoints)
        else candidates["candidate_id"].astype(str)
    )
    cand_ids = np.asarray(cand_ids, dtype=object)
    if len(candidates):
        sites = (
            candidates
            if isinstance(candidates, snap.SnappedPoints)
            else snap.snap_layer(
                candidates, network, id_column="candidate_id", max_snap_m=max_snap_m
            )
        )
        long = travel.walk_times(compounds, sites, network, profile=profile, limit_min=limit_min)
        cost = travel.to_sparse(long, ids, list(cand_ids))
    else:
        cost = siting.sp.csr_matrix((n, 0))
    if existing is not None:
        return dataclasses.replace(existing, candidate_ids=cand_ids, cost=cost)
    existing_min = np.full(n, np.nan)
    existing_id = np.full(n, None, dtype=object)
    if stations is not None and len(stations):
        placed = snap.snap_layer(stations, network, id_column="station_id", max_snap_m=max_snap_m)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CoverageWarning)  # reported by analyze already
            near = travel.nearest_station(compounds, placed, network, profile=profile)
            within = travel.walk_times(
                compounds, placed, network, profile=profile, limit_min=limit_min
            )
        existing_min = near["walk_min"].to_numpy(dtype=np.float64)
        existing_id = near["nearest_station_id"].astype(object).to_numpy()
        station_cost = travel.to_sparse(within, ids, stations["station_id"])
        station_ids = stations["station_id"].astype(str).to_numpy(dtype=object)
        caps = (
            stations["capacity"].to_numpy(dtype=np.float64)
            if "capacity" in stations.columns
            else np.full(len(stations), np.nan)
        )
    else:
        station_cost = siting.sp.csr_matrix((n, 0))
        station_ids = np.zeros(0, dtype=object)
        caps = np.zeros(0)
    return siting.SitingTimes(
        demand_ids=ids,
        weights=np.asarray(weights, dtype=np.float64),
        candidate_ids=cand_ids,
        cost=cost,
        existing_min=existing_min,
        existing_station=existing_id,
        station_ids=station_ids,
        station_cost=station_cost,
        station_capacity=caps,
        limit_min=float(limit_min),
    )


def gather_candidates(
    study_candidates: gpd.GeoDataFrame | None,
    *,
    generate: Sequence[str] = (),
    features: Any = None,
    uncovered: gpd.GeoDataFrame | None = None,
    uncovered_weights: np.ndarray | None = None,
    network: WalkNetwork,
    n_clusters: int = 20,
    max_snap_m: float = 300.0,
) -> gpd.GeoDataFrame:
    """The study's candidates plus the generated ones, each with its ``source``.

    Parameters
    ----------
    study_candidates
        The study's ``[candidates]`` layer (``source = "study"``), or ``None``.
    generate
        Any of :data:`coverage.candidates.GENERATORS`.
    features
        ``OsmFeatures`` of the study area (for ``"osm"`` and ``"gates"``).
    uncovered, uncovered_weights
        Compounds left uncovered and their households (for ``"kmeans"``).
    network
        The walk network.
    n_clusters
        k-means centres to make.
    max_snap_m
        Snapping distance.

    Returns
    -------
    geopandas.GeoDataFrame
        ``candidate_id``, ``name``, ``source``, ``capacity``, ``services``, ``geometry``.
    """
    bad = [g for g in generate if g not in cand.GENERATORS]
    if bad:
        raise InputError(
            f"未知的候选点生成方式 {', '.join(bad)} (unknown --generate value); use "
            f"{', '.join(cand.GENERATORS)}"
        )
    parts = []
    if study_candidates is not None and len(study_candidates):
        own = study_candidates.copy()
        own["source"] = "study"
        if "services" not in own.columns:
            own["services"] = ""
        parts.append(own)
    if "osm" in generate and features is not None:
        parts.append(cand.osm_candidates(features.pois))
    if "gates" in generate and features is not None:
        parts.append(cand.gate_candidates(features.entrances))
    if "kmeans" in generate and uncovered is not None and uncovered_weights is not None:
        parts.append(
            cand.kmeans_candidates(
                uncovered,
                uncovered_weights,
                network,
                n_clusters=n_clusters,
                max_snap_m=max_snap_m,
            )
        )
    if not parts:
        return cand._frame([], [], "study", [])
    out = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=4326)


@dataclass(frozen=True, eq=False)
class SitingResult:
    """The siting of new stations for one service (see :func:`site_service`).

    Attributes
    ----------
    service
        Service key.
    model
        The solved model (:mod:`coverage.siting`).
    sites
        Chosen sites: ``site_id, rank, source, name, lon, lat, households_added,
        compounds_added, geometry``.
    assignment
        One row per compound: its station after siting (``station_id``,
        ``station_kind`` = ``"existing"`` / ``"new"`` / ``""``), ``walk_min``, ``covered``.
    curve
        Coverage against the number of new sites (see :func:`coverage.siting.coverage_curve`).
    candidates
        Every candidate considered, with ``reason`` (``""`` = usable) and ``selected``.
    summary
        JSON-ready summary.
    """

    service: str
    model: Any
    sites: gpd.GeoDataFrame
    assignment: gpd.GeoDataFrame
    curve: pd.DataFrame
    candidates: gpd.GeoDataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"SitingResult(service={self.service!r}, model={s.get('model')!r}, "
            f"new_sites={len(self.sites)}, status={s.get('status')!r}, "
            f"share_before={s.get('share_before')}, share_after={s.get('share_after')})"
        )


def _uncovered(compounds: gpd.GeoDataFrame, existing_min: np.ndarray, minutes: float) -> np.ndarray:
    t = np.where(np.isnan(existing_min), np.inf, existing_min)
    return np.asarray(t > minutes)


def site_service(
    study: Study,
    net: WalkNetwork,
    data: Any,
    *,
    service: str,
    model: str = "max-coverage",
    new: int | None = None,
    target: float | None = None,
    minutes: float | None = None,
    capacity: float | None = None,
    cap_min: float | None = None,
    generate: Sequence[str] = (),
    features: Any = None,
    n_clusters: int | None = None,
    curve_k: int | None = None,
    time_limit_s: float = 60.0,
) -> SitingResult:
    """Site new stations for one service of a study, with its existing stations kept.

    Parameters
    ----------
    study
        The study.
    net
        The walk network.
    data
        ``StudyInputs`` (compounds, stations by service, candidates, entrances).
    service
        Service key.
    model
        One of :data:`MODELS`.
    new
        Number of new sites (all models but ``min-stations``).
    target
        Share of households to reach (``min-stations``; default all reachable).
    minutes
        ``T`` (default the service's largest threshold).
    capacity
        Households a new station serves (``capacitated``; default the service's capacity).
    cap_min
        ``min-walk``: times above this count as this (default ``2 * minutes``).
    generate
        Candidate generators (:data:`coverage.candidates.GENERATORS`).
    features
        ``OsmFeatures`` of the study area, needed by the ``osm`` and ``gates`` generators.
    n_clusters
        k-means centres (default ``max(2 * new, 10)``).
    curve_k
        Coverage curve up to this many new sites (default ``new``, or the sites chosen by
        ``min-stations``; 0 = none).
    time_limit_s
        Solver time limit in seconds.

    Returns
    -------
    SitingResult

    Raises
    ------
    InputError
        An unknown service or model, no usable candidates, ``new`` larger than the
        candidates, a target nothing can reach, a capacity below a compound's demand.
    """
    t0 = time.perf_counter()
    if service not in study.services:
        raise InputError(
            Problem(
                str(study.path or "<study>"),
                f"研究中没有服务 {service!r} (no service {service!r} in the study); available: "
                f"{', '.join(study.services)}",
                key=f"services.{service}",
            )
        )
    if model not in MODELS:
        raise InputError(f"未知的模型 {model!r} (unknown model); use {', '.join(MODELS)}")
    if model != "min-stations" and new is None:
        raise InputError(f"模型 {model} 需要新站数量 --new (model {model} needs --new P)")
    if model == "min-stations" and target is not None and not 0 < target <= 1:
        raise InputError(f"目标覆盖率必须在 (0, 1] 之间 (--target must be in (0, 1]), got {target}")
    svc = study.services[service]
    minutes = float(minutes if minutes is not None else max(svc.minutes))
    if not minutes > 0:
        raise InputError(f"--minutes 必须为正数 (must be positive), got {minutes}")
    cap_min = float(cap_min if cap_min is not None else 2 * minutes)
    limit = max(minutes, cap_min) if model == "min-walk" else minutes
    profile = study.profiles[svc.profile]
    compounds = data.compounds
    if svc.weight_column not in compounds.columns:
        raise InputError(
            f"小区图层没有权重列 {svc.weight_column!r} (the compound layer has no weight column "
            f"{svc.weight_column!r}); set weight_column of services.{service}"
        )
    weights = compounds[svc.weight_column].to_numpy(dtype=np.float64)
    stations = data.stations.get(service)
    origins = snap.snap_study_compounds(study, compounds, net, entrances=data.entrances)
    # existing coverage first: k-means clusters the compounds it leaves out
    base = siting_times(
        origins,
        weights,
        cand._frame([], [], "study", []),
        stations,
        net,
        profile=profile,
        limit_min=limit,
        max_snap_m=study.max_snap_m,
    )
    left = _uncovered(compounds, base.existing_min, minutes)
    k = n_clusters if n_clusters is not None else max(2 * int(new or 5), 10)
    pool = gather_candidates(
        data.candidates,
        generate=generate,
        features=features,
        uncovered=compounds[left],
        uncovered_weights=weights[left],
        network=net,
        n_clusters=k,
        max_snap_m=study.max_snap_m,
    )
    if len(pool) == 0:
        raise InputError(
            "没有候选站址：请在研究文件中提供 [candidates] 图层，或使用 "
            "--generate osm,gates,kmeans (no candidate sites: give a [candidates] layer in the "
            "study or --generate osm,gates,kmeans)"
        )
    snapped_pool = snap.snap_layer(pool, net, id_column="candidate_id", max_snap_m=study.max_snap_m)
    screened = cand.screen_candidates(pool, net, service=service, snapped=snapped_pool)
    use = np.flatnonzero((screened["reason"] == "").to_numpy())
    usable = screened.iloc[use].reset_index(drop=True)
    if len(usable) == 0:
        raise InputError(
            f"{len(screened)} 个候选站址均不可用（距路网过远、位于孤岛或不适用于该服务） "
            f"(none of the {len(screened)} candidate sites is usable: far from the network, "
            "on an island or not for this service); see candidates.csv reasons"
        )
    t_matrix = time.perf_counter()
    times = siting_times(
        origins,
        weights,
        snap.take_points(snapped_pool, use),
        stations,
        net,
        profile=profile,
        limit_min=limit,
        max_snap_m=study.max_snap_m,
        existing=base,
    )
    matrix_s = time.perf_counter() - t_matrix
    solved = _solve(
        model,
        times,
        new=new,
        target=target,
        minutes=minutes,
        capacity=capacity,
        service_capacity=svc.capacity,
        cap_min=cap_min,
        time_limit_s=time_limit_s,
    )
    k_curve = (
        curve_k
        if curve_k is not None
        else len(solved.selected)
        if model == "min-stations"
        else int(new or 0)
    )
    curve = pd.DataFrame()
    if k_curve > 0:
        mc = siting.MaxCoverage.from_walk_times(times, p=min(k_curve, len(usable)), minutes=minutes)
        curve = siting.coverage_curve(mc, k_max=k_curve, time_limit_s=time_limit_s)
    sites = _sites_frame(solved, usable)
    assignment = _assignment_frame(solved, times, compounds, usable, minutes, model)
    screened["selected"] = screened["candidate_id"].astype(str).isin(sites["site_id"]).to_numpy()
    summary = _summary(
        study,
        service,
        model,
        minutes,
        solved,
        times,
        screened,
        assignment,
        matrix_s=matrix_s,
        total_s=time.perf_counter() - t0,
        cap_min=cap_min,
    )
    log.info("siting %s: %s in %.1f s", service, solved, time.perf_counter() - t0)
    return SitingResult(service, solved, sites, assignment, curve, screened, summary)


def _solve(
    model: str,
    times: siting.SitingTimes,
    *,
    new: int | None,
    target: float | None,
    minutes: float,
    capacity: float | None,
    service_capacity: float | None,
    cap_min: float,
    time_limit_s: float,
) -> Any:
    if model == "max-coverage":
        return siting.MaxCoverage.from_walk_times(times, p=int(new or 0), minutes=minutes).solve(
            time_limit_s=time_limit_s
        )
    if model == "min-stations":
        return siting.MinStations.from_walk_times(times, minutes=minutes, target=target).solve(
            time_limit_s=time_limit_s
        )
    if model == "min-walk":
        return siting.MinWalkTime.from_walk_times(times, p=int(new or 0), cap_min=cap_min).solve(
            time_limit_s=time_limit_s
        )
    cap = capacity if capacity is not None else service_capacity
    if cap is None:
        raise InputError(
            "容量模型需要站点容量：请在服务中设置 capacity 或使用 --capacity (the capacitated "
            "model needs a capacity: set capacity in the service or give --capacity)"
        )
    return siting.CapacitatedCoverage.from_walk_times(
        times, p=int(new or 0), minutes=minutes, capacity=float(cap)
    ).solve(time_limit_s=time_limit_s)


def _sites_frame(model: Any, usable: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    rows = usable.iloc[model.selected]
    geom = rows.geometry.values
    return gpd.GeoDataFrame(
        {
            "site_id": rows["candidate_id"].astype(str).to_numpy(),
            "rank": np.arange(1, len(rows) + 1),
            "source": rows["source"].astype(str).to_numpy(),
            "name": rows["name"].astype(str).to_numpy(),
            "lon": np.asarray(gpd.GeoSeries(geom).x),
            "lat": np.asarray(gpd.GeoSeries(geom).y),
            "households_added": np.asarray(model.households_added, dtype=np.float64),
            "compounds_added": np.asarray(model.compounds_added, dtype=np.int64),
        },
        geometry=geom,
        crs=4326,
    )


def _assignment_frame(
    model: Any,
    times: siting.SitingTimes,
    compounds: gpd.GeoDataFrame,
    usable: gpd.GeoDataFrame,
    minutes: float,
    name: str,
) -> gpd.GeoDataFrame:
    """Each compound's station after siting: the nearer of its existing station and the new
    sites (capacitated: the station it is assigned to)."""
    n = len(times.weights)
    new_ids = usable["candidate_id"].astype(str).to_numpy(dtype=object)[model.selected]
    existing = np.where(np.isnan(times.existing_min), np.inf, times.existing_min)
    if model.selected:
        sub = times.cost[:, model.selected].tocoo()
        best_new = np.full(n, np.inf)
        arg = np.full(n, -1, dtype=np.int64)
        order = np.lexsort((sub.data, sub.row))[::-1]
        best_new[sub.row[order]] = sub.data[order]
        arg[sub.row[order]] = sub.col[order]
    else:
        best_new = np.full(n, np.inf)
        arg = np.full(n, -1, dtype=np.int64)
    station = np.full(n, "", dtype=object)
    kind = np.full(n, "", dtype=object)
    walk = np.full(n, np.nan)
    if name == "capacitated":
        n_e = len(times.station_ids)
        a = model.assignment
        sc = times.station_cost.tocsr()
        for i in np.flatnonzero(a >= 0):
            f = int(a[i])
            if f < n_e:
                station[i], kind[i] = times.station_ids[f], "existing"
                walk[i] = sc[i, f]
            else:
                j = model.selected[f - n_e]
                station[i], kind[i] = usable["candidate_id"].iloc[j], "new"
                walk[i] = times.cost[i, j]
        covered = a >= 0
    else:
        use_new = best_new < existing
        has_e = np.isfinite(existing) & ~use_new
        station[has_e] = times.existing_station[has_e]
        kind[has_e] = "existing"
        walk[has_e] = existing[has_e]
        station[use_new] = new_ids[arg[use_new]]
        kind[use_new] = "new"
        walk[use_new] = best_new[use_new]
        covered = np.nan_to_num(walk, nan=np.inf) <= minutes + 1e-9
    return gpd.GeoDataFrame(
        {
            "compound_id": np.asarray(times.demand_ids, dtype=object),
            "name": compounds["name"].astype(str).to_numpy() if "name" in compounds else "",
            "households": times.weights,
            "station_id": station,
            "station_kind": kind,
            "walk_min": walk,
            "covered": covered,
        },
        geometry=compounds.geometry.values,
        crs=4326,
    )


def _summary(
    study: Study,
    service: str,
    model_name: str,
    minutes: float,
    model: Any,
    times: siting.SitingTimes,
    screened: gpd.GeoDataFrame,
    assignment: gpd.GeoDataFrame,
    *,
    matrix_s: float,
    total_s: float,
    cap_min: float,
) -> dict[str, Any]:
    total = float(times.weights.sum())
    existing = np.where(np.isnan(times.existing_min), np.inf, times.existing_min)
    before = float(times.weights[existing <= minutes].sum())
    if model_name == "capacitated":
        before = float(model.covered_before)
    after = float(assignment["households"][assignment["covered"]].sum())
    reach = (np.diff(times.cost.indptr) > 0) | (existing <= minutes)
    if model_name == "min-walk":
        reach = (np.diff(times.cost.indptr) > 0) | np.isfinite(existing)
    unreached = ~reach
    reasons = screened["reason"].to_numpy()
    out: dict[str, Any] = {
        "study": study.name,
        "service": service,
        "model": model_name,
        "minutes": minutes,
        "households_total": total,
        "households_covered_before": before,
        "households_covered_after": after,
        "share_before": round(before / total, 6) if total else None,
        "share_after": round(after / total, 6) if total else None,
        "new_sites": len(model.selected),
        "compounds_unreached": int(unreached.sum()),
        "households_unreached": float(times.weights[unreached].sum()),
        "candidates": {
            "total": len(screened),
            "usable": int((reasons == "").sum()),
            "by_source": {str(k): int(v) for k, v in screened["source"].value_counts().items()},
            "dropped": {
                str(k): int(v) for k, v in pd.Series(reasons[reasons != ""]).value_counts().items()
            },
        },
        "matrix_seconds": round(matrix_s, 3),
        "total_seconds": round(total_s, 3),
        **model.summary(),
    }
    if model_name == "min-walk":
        out["cap_min"] = cap_min
        out["mean_walk_min_after"] = model.objective / total if total else None
    if study.note:
        out["note"] = study.note
    return out


def write_siting(result: SitingResult, out_dir: str | Path) -> list[Path]:
    """Write ``sites.csv``, ``assignment.csv``, ``curve.csv``, ``candidates.csv``,
    ``sites.gpkg`` and ``summary.json``, each atomically.

    Parameters
    ----------
    result
        The result of :func:`site_service`.
    out_dir
        Output folder (created when missing).

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    cands = result.candidates.assign(
        lon=result.candidates.geometry.x, lat=result.candidates.geometry.y
    )
    tables = (
        ("sites", result.sites),
        ("assignment", result.assignment),
        ("curve", result.curve),
        ("candidates", cands),
    )
    for name, frame in tables:
        path = out / f"{name}.csv"
        with atomic_path(path) as tmp:
            table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
            floats = [c for c in table.select_dtypes("float").columns if c not in ("lon", "lat")]
            table[floats] = table[floats].round(2)
            if "lon" in table:
                table[["lon", "lat"]] = table[["lon", "lat"]].round(7)
            table.to_csv(tmp, index=False, encoding="utf-8-sig")
        written.append(path)
    path = out / "summary.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result.summary, ensure_ascii=False, indent=2), encoding="utf-8")
    written.append(path)
    path = out / "sites.gpkg"
    with atomic_path(path) as tmp:
        for name, frame in (
            ("sites", result.sites),
            ("candidates", result.candidates),
            ("assignment", result.assignment),
        ):
            if len(frame):
                gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)
                gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    written.append(path)
    return written
