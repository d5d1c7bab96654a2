"""Many areas at once on Dask: every district and county of a prefecture or a province.

A batch file (``BATCH.toml``) names one **template study** (services, profiles, thresholds,
one OSM file and province-wide compound and station layers: an ordinary study file that
``analyze`` also runs over the whole region) and an **areas layer** (county or street
boundaries with a name column, any format :func:`coverage.inputs.read_layer` reads)::

    name = "安徽省 15分钟便民服务圈（按区县）"
    study = "anhui/study.toml"
    [areas]
    path = "anhui/counties.gpkg"
    name_column = "name"

or lists independent studies, one per area::

    name = "池州市"
    [[area]]
    name = "贵池区"
    study = "guichi/study.toml"

Each area is one Dask task (:func:`run_batch`):

- **compounds**: a compound belongs to exactly one area, the one holding its anchor point
  (a point compound's own location, which is its access point; a polygon compound's
  :func:`shapely.point_on_surface`: its access points lie on the boundary and depend on the
  network, the anchor keeps the split independent of it). A compound inside two overlapping
  areas goes to the first in the layer's order and is counted in ``compounds_shared`` of both;
  compounds inside no area are counted in the batch summary and left out.
- **network**: the region's cached walk network (:func:`coverage.pipeline.network_for_study`,
  read by every worker from the cache folder, a shared path) clipped to the area, its
  compounds and a **buffer** (:func:`clip_network`): the straight-line walk reach of the
  largest threshold at the fastest profile (:meth:`coverage.travel.TravelGraph.reach_m`, the
  largest over the services) plus the snapping distance. No walk within the largest threshold
  leaves that disc, so every time up to the largest threshold equals the one of a single
  study over the whole region. The clipped network is cached by path too
  (``<cache_dir>/batch-areas/area-<key>``) for the next month's run.
- **stations**: those inside the area plus the buffer (a compound near a county line walks
  to the station across it); their loads are summed over every area afterwards, so a
  station's load counts compounds from every area.
- **beyond the largest threshold** the nearest station is searched inside the buffered area
  only: a time found there is never shorter than the whole-region one, and can be longer (or
  missing: ``unreachable``). Such rows have ``walk_min_exact = False`` (their true time is over
  the largest threshold and at most ``walk_min``); verdicts at every threshold, the stations
  within each threshold and ``households_served_within_<T>min`` stay exact.

Known limit: under the ``gates`` / ``auto`` access rules an OSM gate that lies on no
compound's boundary goes to the compound whose boundary is nearest. An area task sees only
its own compounds, so such a stray gate near an area border could be given to a compound of
this area although a compound of the neighbouring area is nearer. Point compounds and gates
on a boundary are not affected (the tests use point compounds; the demo's polygons give
identical results).

A batch of per-area studies runs each study as it is (its own network, layers and stations,
no buffer): the areas are independent, their studies must share services and thresholds, and
the outputs are stacked.

Large inputs go to the workers once: the compound, station and entrance layers are saved
in the cache folder (``batch-layers/``) and read by path once per worker process, like the
networks (a path survives a worker's death; data scattered to a worker that dies would be
lost, and would pin the tasks to that worker). Combined outputs (:func:`write_batch`):
``compounds.csv``, ``stations.csv``, ``gaps.csv``, ``summary.csv`` (the same formats as
``analyze``, plus an ``area`` column), ``summary.json`` (the whole batch and every area) and
``areas.csv`` (one row per area, worst first), each written atomically. A failing area does
not stop the batch: it is listed with its error in ``areas.csv``. Dask retries the tasks of a
worker that dies.

Later steps per area (isochrones, report) plug in through :data:`AREA_STEPS`: a batch file's
``steps = ["isochrones"]`` runs ``coverage.isochrones.batch_step`` on the worker after the
analysis, with the area's study, clipped network, inputs and analysis and a folder
``<out>/areas/<area>/`` for its files.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import pickle
import resource
import socket
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry.base import BaseGeometry

from coverage import dataedge, gaps, network, pipeline, travel
from coverage._atomic import atomic_path
from coverage.batchfile import AREA_STEPS, Batch, BatchArea, BrokenArea, load_batch
from coverage.config import Study
from coverage.errors import CoverageError, InputError, Problem, StudyError
from coverage.network import WalkNetwork

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

__all__ = [
    "AREA_STEPS",
    "AreaResult",
    "Batch",
    "BatchArea",
    "BatchResult",
    "assign_compounds",
    "batch_buffer_m",
    "clip_network",
    "connect",
    "dashboard_link",
    "load_batch",
    "run_batch",
    "write_batch",
]

log = logging.getLogger(__name__)

_EXTRA_M = 1.0  # safety margin added to every buffer (metres)


# --------------------------------------------------------------------------------------------
# splitting the region


def _anchors(compounds: gpd.GeoDataFrame) -> np.ndarray:
    """A point per compound: the point itself, or a point on the surface of a polygon."""
    geoms = np.asarray(compounds.geometry.values, dtype=object)
    points = shapely.get_type_id(geoms) == 0
    return np.where(points, geoms, shapely.point_on_surface(geoms))


def assign_compounds(compounds: gpd.GeoDataFrame, areas: Sequence[BatchArea]) -> pd.DataFrame:
    """Give every compound to exactly one area: the first (in layer order) holding its anchor.

    The anchor is a point compound's own location (its access point) or a point on the
    surface of a polygon compound. A point on an area's boundary counts as inside.

    Parameters
    ----------
    compounds
        Compound layer (``compound_id``, geometry in WGS-84).
    areas
        The batch's areas (with geometries).

    Returns
    -------
    pandas.DataFrame
        One row per compound, in the layer's order: ``compound_id``, ``area`` (the area's
        name; None when no area holds it) and ``n_areas`` (how many areas hold it: above 1
        where areas overlap).

    Examples
    --------
    >>> from shapely import Point, box
    >>> cmp = gpd.GeoDataFrame({"compound_id": ["a", "b", "c"]},
    ...     geometry=[Point(0.5, 0.5), Point(1.5, 0.5), Point(5, 5)], crs=4326)
    >>> areas = [BatchArea("west", box(0, 0, 1.6, 1)), BatchArea("east", box(1, 0, 2, 1))]
    >>> assign_compounds(cmp, areas).to_dict("list")
    {'compound_id': ['a', 'b', 'c'], 'area': ['west', 'west', None], 'n_areas': [1, 2, 0]}
    """
    n = len(compounds)
    polys = np.array([a.geometry for a in areas], dtype=object)
    i_pt, i_area = shapely.STRtree(polys).query(_anchors(compounds), predicate="intersects")
    count = np.bincount(i_pt, minlength=n).astype(np.int64)
    first = np.full(n, len(areas), dtype=np.int64)
    np.minimum.at(first, i_pt, i_area)
    names = np.array([a.name for a in areas] + [None], dtype=object)
    return pd.DataFrame(
        {
            "compound_id": compounds["compound_id"].to_numpy(),
            "area": pd.Series(names[first], dtype=object),
            "n_areas": count,
        }
    )


def _overlaps(areas: Sequence[BatchArea], crs: str) -> list[tuple[str, str]]:
    """Pairs of areas sharing more than a square metre."""
    metric = gpd.GeoSeries([a.geometry for a in areas], crs=4326).to_crs(crs).to_numpy()
    i, j = shapely.STRtree(metric).query(metric, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    shared = shapely.area(shapely.intersection(metric[i], metric[j])) > 1.0
    return [(areas[a].name, areas[b].name) for a, b in zip(i[shared], j[shared], strict=True)]


def batch_buffer_m(study: Study, net: WalkNetwork) -> float:
    """Return the buffer around each area: the walk reach of the largest threshold.

    The largest, over the study's services, of
    :meth:`coverage.travel.TravelGraph.reach_m` at the service's largest threshold and
    profile: no walk within that threshold leaves a disc of this radius.

    Parameters
    ----------
    study
        The (template) study.
    net
        The region's walk network.

    Returns
    -------
    float
        Metres.
    """
    return max(
        travel.travel_graph(net, profile=study.profiles[s.profile]).reach_m(max(s.minutes))
        for s in study.services.values()
    )


# --------------------------------------------------------------------------------------------
# clipping the network


_EDGE_TREES: dict[int, tuple[WalkNetwork, shapely.STRtree]] = {}


def _edge_tree(net: WalkNetwork) -> shapely.STRtree:
    hit = _EDGE_TREES.get(id(net))
    if hit is not None and hit[0] is net:
        return hit[1]
    tree = shapely.STRtree(np.asarray(net.edges.geometry.values, dtype=object))
    _EDGE_TREES.clear()  # one region at a time per process
    _EDGE_TREES[id(net)] = (net, tree)
    return tree


def clip_network(network: WalkNetwork, polygon: BaseGeometry) -> WalkNetwork:
    """Return the part of a network whose edges touch a polygon (whole edges, same CRS).

    Every edge that intersects the polygon is kept with its full geometry and both end
    nodes; nodes and edges keep their relative order, so the result is exactly the
    whole-region graph restricted to those edges. Components are recounted.

    Parameters
    ----------
    network
        The region's network.
    polygon
        The area to keep, WGS-84.

    Returns
    -------
    WalkNetwork
        ``meta`` names the source and ``clipped_from`` (the region's cache key).

    Examples
    --------
    >>> from shapely import LineString, box
    >>> nodes = pd.DataFrame({"node_id": [1, 2, 3], "lon": [0.0, 0.001, 0.002],
    ...                       "lat": [0.0, 0.0, 0.0], "component": [0, 0, 0]})
    >>> edges = gpd.GeoDataFrame({"u": [0, 1], "v": [1, 2], "length_m": [111.3, 111.3],
    ...     "highway": ["path", "path"], "access": [None, None], "private": [False, False],
    ...     "way_id": [7, 7]}, geometry=[LineString([(0, 0), (0.001, 0)]),
    ...     LineString([(0.001, 0), (0.002, 0)])], crs="EPSG:4326")
    >>> part = clip_network(WalkNetwork(nodes, edges, "EPSG:32631"), box(-1, -1, 0.0005, 1))
    >>> part.nodes["node_id"].tolist(), part.edges[["u", "v"]].values.tolist()
    ([1, 2], [[0, 1]])
    """
    keep = np.sort(_edge_tree(network).query(polygon, predicate="intersects"))
    edges = network.edges.iloc[keep]
    u = edges["u"].to_numpy(dtype=np.int64)
    v = edges["v"].to_numpy(dtype=np.int64)
    used = np.zeros(len(network.nodes), dtype=bool)
    used[u] = True
    used[v] = True
    new = np.cumsum(used) - 1
    nodes = network.nodes[used].reset_index(drop=True)
    edges = edges.assign(u=new[u], v=new[v]).reset_index(drop=True)
    n = len(nodes)
    graph = coo_matrix((np.ones(len(edges)), (edges["u"], edges["v"])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    order = np.argsort(-np.bincount(labels), kind="stable")
    relabel = np.empty_like(order)
    relabel[order] = np.arange(len(order))
    nodes["component"] = relabel[labels].astype(np.int32) if n else nodes["component"]
    meta = {
        "source": f"{network.meta.get('source', '?')} (clipped)",
        "clipped_from": network.meta.get("cache_key"),
        # the region's data area: the edge of the map data is the same for every area
        **{k: network.meta[k] for k in (dataedge.EXTENT_KEY,) if k in network.meta},
    }
    return WalkNetwork(nodes=nodes, edges=edges, crs=network.crs, meta=meta)


_REGION: dict[str, WalkNetwork] = {}


def _region_network(folder: str) -> WalkNetwork:
    """The region's network, read once per worker process (one region at a time)."""
    net = _REGION.get(folder)
    if net is None:
        _REGION.clear()
        net = network.read_network(folder)
        _REGION[folder] = net
    return net


# --------------------------------------------------------------------------------------------
# one area (runs on a worker)


@dataclass(frozen=True)
class AreaResult:
    """What one area's task returns (picklable; small apart from its tables).

    Attributes
    ----------
    name
        The area.
    status
        ``"ok"``, ``"empty"`` (no compound in the area) or ``"failed"``.
    error
        Why it failed (or why it is empty).
    assessed, loads, summary
        Per service: :func:`coverage.gaps.assess_coverage` rows with ``area`` first and
        ``walk_min_exact``; the stations' loads from this area's compounds only; the
        area's coverage summary (overall and per group).
    compounds, households
        Compounds of the area and their households.
    nodes, edges
        Size of the area's (buffered) network.
    network_cached
        The clipped network came from the cache.
    seconds
        ``network``, ``analyze``, ``steps`` and ``total`` wall time on the worker, and
        ``cpu``: the worker process's CPU time for the area (template batches).
    peak_rss_mb
        Peak resident memory of the worker process after the area.
    worker
        ``host:pid`` of the worker process.
    warnings
        Warnings raised while analysing the area.
    outputs
        Files written by the per-area steps.
    """

    name: str
    status: str
    error: str = ""
    assessed: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    loads: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    summary: dict[str, pd.DataFrame] = field(default_factory=dict)
    compounds: int = 0
    households: float = 0.0
    nodes: int = 0
    edges: int = 0
    network_cached: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = float("nan")
    worker: str = ""
    warnings: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Layers:
    """The region's layers, read by every worker process once (:func:`_layers_at`)."""

    compounds: gpd.GeoDataFrame
    stations: dict[str, gpd.GeoDataFrame]
    entrances: gpd.GeoDataFrame | None


@dataclass(frozen=True)
class _AreaTask:
    """One area of a template batch (small: geometry, positions and paths)."""

    name: str
    study: Study
    positions: np.ndarray  # the area's compounds in the layer
    network_polygon: BaseGeometry  # WGS-84: area + compounds + buffer + snapping distance
    station_polygon: BaseGeometry  # WGS-84: area + compounds + buffer
    region_folder: str
    area_folder: str
    area_key: str
    steps: tuple[str, ...] = ()
    out_dir: str | None = None


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _area_network(task: _AreaTask) -> tuple[WalkNetwork, bool]:
    folder = Path(task.area_folder)
    if (folder / "manifest.json").is_file():
        try:
            net = network.read_network(folder)
        except CoverageError as exc:
            log.warning("area network cache %s unreadable, clipping again: %s", folder, exc)
        else:
            if net.meta.get("batch_area_key") == task.area_key:
                return net, True
    net = clip_network(_region_network(task.region_folder), task.network_polygon)
    net = net.with_meta({**net.meta, "batch_area_key": task.area_key})
    try:
        network.save_network(net, folder)
    except OSError as exc:  # a read-only cache still lets the batch run
        log.warning("cannot cache the area network in %s: %s", folder, exc)
    return net, False


def _inside(frame: gpd.GeoDataFrame, polygon: BaseGeometry) -> gpd.GeoDataFrame:
    return frame[shapely.intersects(np.asarray(frame.geometry.values, dtype=object), polygon)]


def _flag_exact(
    assessed: gpd.GeoDataFrame, *, area: str, tmax: float, bounded: bool
) -> gpd.GeoDataFrame:
    """Insert ``area`` first and ``walk_min_exact`` after ``walk_min``."""
    out = assessed.copy()
    walk = out["walk_min"]
    exact = np.ones(len(out), dtype=bool)
    if bounded:
        exact = ~((walk > tmax) | (walk.isna() & (out["reason"] == "unreachable"))).to_numpy()
    out.insert(0, "area", area)
    out.insert(out.columns.get_loc("walk_min") + 1, "walk_min_exact", exact)
    out.attrs = assessed.attrs
    return out


def _result_from(
    name: str,
    study: Study,
    net: WalkNetwork,
    data: pipeline.StudyInputs,
    analysis: pipeline.Analysis,
    *,
    bounded: bool,
    **extra: Any,
) -> AreaResult:
    assessed = {}
    summary = {}
    for key, res in analysis.services.items():
        tmax = float(max(study.services[key].minutes))
        assessed[key] = _flag_exact(res.assessed, area=name, tmax=tmax, bounded=bounded)
        s = res.summary.copy()
        s.insert(0, "area", name)
        s["scope"] = s["scope"].replace("overall", "area")
        summary[key] = s
    loads = {k: r.loads for k, r in analysis.services.items()}
    return AreaResult(
        name,
        "ok",
        assessed=assessed,
        loads=loads,
        summary=summary,
        compounds=len(data.compounds),
        households=float(data.compounds["households"].sum()),
        nodes=len(net.nodes),
        edges=len(net.edges),
        **extra,
    )


def _run_steps(steps: Sequence[str], name: str, out_dir: str | None, **kwargs: Any) -> list[str]:
    written: list[str] = []
    if not steps or out_dir is None:
        return written
    folder = Path(out_dir) / "areas" / _slug(name)
    for step in steps:
        module, func = AREA_STEPS[step].split(":", 1)
        paths = getattr(importlib.import_module(module), func)(out_dir=folder, **kwargs)
        written += [str(p) for p in paths]
    return written


def _failed(name: str, exc: BaseException, started: float) -> AreaResult:
    if isinstance(exc, CoverageError):
        error = str(exc)
    else:
        error = f"{type(exc).__name__}: {exc}"
        log.error("area %s failed:\n%s", name, "".join(traceback.format_exception(exc)))
    return AreaResult(
        name,
        "failed",
        error=error,
        seconds={"total": time.perf_counter() - started},
        peak_rss_mb=_peak_rss_mb(),
        worker=_worker_id(),
    )


_LAYERS: dict[str, _Layers] = {}


def _save_layers(layers: _Layers, folder: Path) -> str:
    """Save the layers for the workers (pickle, named by its content); return the path."""
    data = pickle.dumps(layers, protocol=pickle.HIGHEST_PROTOCOL)
    path = folder / "batch-layers" / f"layers-{hashlib.sha256(data).hexdigest()[:24]}.pkl"
    if not path.is_file():
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return str(path)


def _layers_at(path: str) -> _Layers:
    """The layers saved by :func:`_save_layers`, read once per worker process."""
    layers = _LAYERS.get(path)
    if layers is None:
        _LAYERS.clear()
        with open(path, "rb") as fh:
            layers = pickle.load(fh)  # our own file in the cache folder
        _LAYERS[path] = layers
    return layers


def _run_area(task: _AreaTask, layers: _Layers | str) -> AreaResult:
    """Analyse one area of a template batch (the Dask task); ``layers`` or their path."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        if isinstance(layers, str):
            layers = _layers_at(layers)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            net, cached = _area_network(task)
            t1 = time.perf_counter()
            compounds = layers.compounds.iloc[task.positions].reset_index(drop=True)
            stations = {k: _inside(s, task.station_polygon) for k, s in layers.stations.items()}
            entrances = layers.entrances
            if entrances is not None:
                entrances = _inside(entrances, task.network_polygon)
            data = pipeline.StudyInputs(compounds, stations, None, entrances)
            analysis = pipeline.analyze(task.study, net, data)
            t2 = time.perf_counter()
            outputs = _run_steps(
                task.steps,
                task.name,
                task.out_dir,
                study=task.study,
                network=net,
                inputs=data,
                analysis=analysis,
            )
        t3 = time.perf_counter()
        return _result_from(
            task.name,
            task.study,
            net,
            data,
            analysis,
            bounded=True,
            network_cached=cached,
            seconds={
                "network": t1 - t0,
                "analyze": t2 - t1,
                "steps": t3 - t2,
                "total": t3 - t0,
                "cpu": time.process_time() - c0,
            },
            peak_rss_mb=_peak_rss_mb(),
            worker=_worker_id(),
            warnings=tuple(dict.fromkeys(str(w.message) for w in caught)),
            outputs=tuple(outputs),
        )
    except Exception as exc:  # one failing area must not stop the batch
        return _failed(task.name, exc, t0)


def _run_area_study(
    area: BatchArea, cache_dir: str | None, steps: tuple[str, ...], out_dir: str | None
) -> AreaResult:
    """Analyse one area that has its own study (the Dask task)."""
    t0 = time.perf_counter()
    try:
        if isinstance(area, BrokenArea):
            raise StudyError(area.error)
        study = area.study
        assert study is not None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            net = pipeline.network_for_study(study, cache_dir=cache_dir)
            t1 = time.perf_counter()
            data = pipeline.load_inputs(study, network=net, cache_dir=cache_dir)
            if len(data.compounds) == 0:
                return AreaResult(area.name, "empty", error="没有小区 (no compounds)")
            analysis = pipeline.analyze(study, net, data)
            t2 = time.perf_counter()
            outputs = _run_steps(
                steps, area.name, out_dir, study=study, network=net, inputs=data, analysis=analysis
            )
        t3 = time.perf_counter()
        return _result_from(
            area.name,
            study,
            net,
            data,
            analysis,
            bounded=False,
            network_cached=bool(net.meta.get("from_cache")),
            seconds={"network": t1 - t0, "analyze": t2 - t1, "steps": t3 - t2, "total": t3 - t0},
            peak_rss_mb=_peak_rss_mb(),
            worker=_worker_id(),
            warnings=tuple(dict.fromkeys(str(w.message) for w in caught)),
            outputs=tuple(outputs),
        )
    except Exception as exc:  # one failing area must not stop the batch
        return _failed(area.name, exc, t0)


# --------------------------------------------------------------------------------------------
# the whole batch (runs on the client)


@dataclass(frozen=True)
class BatchResult:
    """The combined results of a batch.

    Attributes
    ----------
    name
        The batch's name.
    areas
        Every area's result, in the batch's order.
    services
        Per service, the combined tables: ``assessed`` (every compound of every area, with
        ``area`` and ``walk_min_exact``), ``loads`` (every station's load summed over all
        areas), ``gaps`` (ranked over the batch) and ``summary`` (the whole batch, then each
        area and its groups).
    summary
        Coverage of the whole batch per service and threshold (as ``summary.json``).
    table
        One row per area, worst first (as ``areas.csv``).
    buffer_m
        The buffer around every area (``None`` for per-area studies).
    unassigned
        Compounds inside no area (left out).
    overlaps
        Pairs of areas that overlap.
    seconds
        ``prepare`` (client side: network, layers, split), ``run`` (the tasks),
        ``combine`` and ``total``.
    note
        The study's or batch's note.
    """

    name: str
    areas: tuple[AreaResult, ...]
    services: dict[str, pipeline.ServiceResult]
    summary: dict[str, Any]
    table: pd.DataFrame
    buffer_m: float | None = None
    unassigned: int = 0
    overlaps: tuple[tuple[str, str], ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    note: str | None = None

    @property
    def failed(self) -> list[str]:
        """Names of the areas that failed."""
        return [a.name for a in self.areas if a.status == "failed"]


def _slug(name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_")
    return safe or hashlib.sha256(name.encode()).hexdigest()[:12]


def _to_wgs84(polygon: BaseGeometry, crs: str) -> BaseGeometry:
    dense = shapely.segmentize(polygon, 100.0)
    return gpd.GeoSeries([dense], crs=crs).to_crs(4326).iloc[0]


@dataclass(frozen=True)
class _Plan:
    tasks: list[_AreaTask]
    empty: list[AreaResult]
    layers: _Layers
    study: Study
    buffer_m: float
    unassigned: int
    overlaps: list[tuple[str, str]]
    shared: dict[str, int]
    area_of_station: dict[str, pd.Series]


def _plan(batch: Batch, *, cache_dir: Path, buffer_m: float | None, out_dir: str | None) -> _Plan:
    """Load the region once, split it into area tasks (client side)."""
    study = batch.study
    assert study is not None
    net = pipeline.network_for_study(study, cache_dir=cache_dir)
    key = str(net.meta.get("cache_key", ""))
    # the folder network.load_network caches the region in; workers read it by path
    region = cache_dir / f"network-{key[:24]}"
    if not (region / "manifest.json").is_file():
        network.save_network(net, region)
    data = pipeline.load_inputs(study, network=net, cache_dir=cache_dir)
    buffer = batch_buffer_m(study, net) if buffer_m is None else float(buffer_m)
    assigned = assign_compounds(data.compounds, batch.areas)
    crs = net.crs
    geoms = np.asarray(data.compounds.geometry.to_crs(crs).values, dtype=object)
    # a gate may lie gate_tolerance_m outside its compound; a point links to the network
    # within max_snap_m (a gate within gate_link_m)
    margin = buffer + study.gate_tolerance_m + _EXTRA_M
    link = max(study.max_snap_m, study.gate_link_m)
    tasks: list[_AreaTask] = []
    empty: list[AreaResult] = []
    shared: dict[str, int] = {}
    holders = _holders(data.compounds, batch.areas)
    for i, area in enumerate(batch.areas):
        shared[area.name] = int(((holders[:, i]) & (assigned["n_areas"].to_numpy() > 1)).sum())
        pos = np.flatnonzero((assigned["area"] == area.name).to_numpy())
        if len(pos) == 0:
            empty.append(
                AreaResult(area.name, "empty", error="区域内没有小区 (no compound in this area)")
            )
            continue
        poly = gpd.GeoSeries([area.geometry], crs=4326).to_crs(crs).iloc[0]
        outside = geoms[pos][~shapely.within(geoms[pos], poly)]
        core = shapely.union_all([poly, *outside]) if len(outside) else poly
        st_poly = _to_wgs84(shapely.buffer(core, margin), crs)
        net_poly = _to_wgs84(shapely.buffer(core, margin + link), crs)
        digest = hashlib.sha256(
            key.encode() + shapely.to_wkb(shapely.set_precision(net_poly, 1e-7).normalize())
        ).hexdigest()
        tasks.append(
            _AreaTask(
                name=area.name,
                study=study,
                positions=pos,
                network_polygon=net_poly,
                station_polygon=st_poly,
                region_folder=str(region),
                area_folder=str(cache_dir / "batch-areas" / f"area-{digest[:24]}"),
                area_key=digest,
                steps=batch.steps,
                out_dir=out_dir,
            )
        )
    area_of_station = {
        k: assign_compounds(st.rename(columns={"station_id": "compound_id"}), batch.areas)["area"]
        for k, st in data.stations.items()
    }
    unassigned = int(assigned["area"].isna().sum())
    if unassigned:
        log.warning("%d compounds lie inside no area and are left out", unassigned)
    overlaps = _overlaps(batch.areas, crs)
    for a, b in overlaps:
        log.warning("areas %s and %s overlap; shared compounds go to %s", a, b, a)
    log.info(
        "batch %s: %d areas (%d without compounds), buffer %.0f m, region network %d edges",
        batch.name,
        len(batch.areas),
        len(empty),
        buffer,
        len(net.edges),
    )
    layers = _Layers(data.compounds, data.stations, data.entrances)
    return _Plan(tasks, empty, layers, study, buffer, unassigned, overlaps, shared, area_of_station)


def _holders(compounds: gpd.GeoDataFrame, areas: Sequence[BatchArea]) -> np.ndarray:
    """Boolean matrix compounds x areas: the area holds the compound's anchor."""
    polys = np.array([a.geometry for a in areas], dtype=object)
    i_pt, i_area = shapely.STRtree(polys).query(_anchors(compounds), predicate="intersects")
    out = np.zeros((len(compounds), len(areas)), dtype=bool)
    out[i_pt, i_area] = True
    return out


def _execute(
    calls: list[tuple[str, Callable[..., AreaResult], tuple[Any, ...]]],
    client: Client | None,
    on_result: Callable[[AreaResult], None] | None,
    retries: int,
) -> dict[str, AreaResult]:
    """Run the area calls in process (no client) or on the Dask cluster."""
    results: dict[str, AreaResult] = {}
    if client is None:
        for name, func, args in calls:
            results[name] = res = func(*args)
            if on_result is not None:
                on_result(res)
        return results
    from distributed import as_completed

    futures = {}
    for i, (name, func, args) in enumerate(calls):
        key = f"coverage-area-{i}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
        futures[client.submit(func, *args, key=key, pure=False, retries=retries)] = name
    for future in as_completed(futures, loop=client.loop):
        name = futures[future]
        try:
            res = future.result()
        except Exception as exc:  # a task lost for good (KilledWorker after retries ...)
            res = AreaResult(name, "failed", error=f"{type(exc).__name__}: {exc}")
        results[name] = res
        if on_result is not None:
            on_result(res)
    return results


def run_batch(
    batch: Batch,
    *,
    client: Client | None = None,
    cache_dir: str | Path | None = None,
    buffer_m: float | None = None,
    out_dir: str | Path | None = None,
    on_result: Callable[[AreaResult], None] | None = None,
    retries: int = 1,
) -> BatchResult:
    """Analyse every area of a batch, on a Dask cluster or in this process.

    Parameters
    ----------
    batch
        From :func:`load_batch`.
    client
        A ``distributed.Client`` (see :func:`connect`); ``None`` runs the areas one after
        the other in this process (same functions, same results).
    cache_dir
        Network cache folder, a path every worker can read (default: the study's).
    buffer_m
        Override the buffer around each area (default :func:`batch_buffer_m`). Smaller
        buffers make times near the borders wrong; only for tests and experiments.
    out_dir
        Output folder; only used by per-area steps (they write to ``<out_dir>/areas/``).
    on_result
        Called with each :class:`AreaResult` as it arrives (progress).
    retries
        Dask retries of a task that raised (a worker that dies is retried by the scheduler
        in any case).

    Returns
    -------
    BatchResult

    Raises
    ------
    InputError
        Bad input in the template study's layers (nothing is run).
    NetworkError
        The region's network cannot be built.
    """
    t0 = time.perf_counter()
    out = str(Path(out_dir).resolve()) if out_dir is not None else None
    calls: list[tuple[str, Callable[..., AreaResult], tuple[Any, ...]]]
    if batch.study is not None:
        folder = Path(cache_dir or pipeline.default_cache_dir(batch.study)).resolve()
        plan = _plan(batch, cache_dir=folder, buffer_m=buffer_m, out_dir=out)
        layers: _Layers | str = plan.layers
        if client is not None:
            layers = _save_layers(plan.layers, folder)
        calls = [(t.name, _run_area, (t, layers)) for t in plan.tasks]
    else:
        plan = None
        folder_s = str(Path(cache_dir).resolve()) if cache_dir is not None else None
        calls = [(a.name, _run_area_study, (a, folder_s, batch.steps, out)) for a in batch.areas]
    t1 = time.perf_counter()
    done = _execute(calls, client, on_result, retries)
    if plan is not None:
        for res in plan.empty:
            done[res.name] = res
            if on_result is not None:
                on_result(res)
    t2 = time.perf_counter()
    areas = tuple(done[a.name] for a in batch.areas)
    result = _combine(batch, areas, plan)
    t3 = time.perf_counter()
    return replace(
        result,
        seconds={"prepare": t1 - t0, "run": t2 - t1, "combine": t3 - t2, "total": t3 - t0},
    )


def _combine(batch: Batch, areas: tuple[AreaResult, ...], plan: _Plan | None) -> BatchResult:
    ok = [a for a in areas if a.status == "ok"]
    if plan is not None:
        study = plan.study
    else:
        first = next((a.study for a in batch.areas if a.study is not None), None)
        if first is None:
            raise StudyError("批处理中没有可读的研究文件 (no readable study in the batch)")
        study = first
    services: dict[str, pipeline.ServiceResult] = {}
    for key, service in study.services.items():
        parts = [a.assessed[key] for a in ok if key in a.assessed]
        if not parts:
            continue
        assessed = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=4326)
        assessed.attrs = parts[0].attrs
        if plan is not None:
            loads = gaps.station_load(assessed, plan.layers.stations[key], service=service)
            loads.insert(0, "area", plan.area_of_station[key].to_numpy())
        else:
            loads = pd.concat(
                [a.loads[key].assign(area=a.name) for a in ok if key in a.loads], ignore_index=True
            )
            loads.insert(0, "area", loads.pop("area"))
        whole = gaps.summarize_coverage(assessed, service=service)
        whole.insert(0, "area", None)
        summary = pd.concat(
            [whole, *(a.summary[key] for a in ok if key in a.summary)], ignore_index=True
        )
        services[key] = pipeline.ServiceResult(
            assessed, gpd.GeoDataFrame(loads, crs=4326), gaps.rank_gaps(assessed), summary
        )
    wanted = {k: s for k, s in study.services.items() if k in services}
    totals = gaps.summary_dict({k: r.assessed for k, r in services.items()}, wanted)
    table = _areas_table(areas, study, plan)
    return BatchResult(
        name=batch.name,
        areas=areas,
        services=services,
        summary=totals,
        table=table,
        buffer_m=plan.buffer_m if plan is not None else None,
        unassigned=plan.unassigned if plan is not None else 0,
        overlaps=tuple(plan.overlaps) if plan is not None else (),
        note=batch.note or study.note,
    )


_STATUS_ORDER = {"failed": 0, "empty": 1, "ok": 2}


def _areas_table(areas: Sequence[AreaResult], study: Study, plan: _Plan | None) -> pd.DataFrame:
    """One row per area: coverage per service and threshold, gaps, worst first."""
    rows = []
    overlaps: dict[str, list[str]] = {}
    for one, two in plan.overlaps if plan is not None else []:
        overlaps.setdefault(one, []).append(two)
        overlaps.setdefault(two, []).append(one)
    for res in areas:
        row: dict[str, Any] = {
            "area": res.name,
            "status": res.status,
            "compounds": res.compounds,
            "households": res.households,
        }
        worst = np.inf
        left_most = 0.0
        for key, service in study.services.items():
            tmax = max(service.minutes)
            a = res.assessed.get(key)
            for t in service.minutes:
                col = f"{key}_covered_{gaps.minutes_label(t)}min"
                if a is None or not len(a):
                    row[col] = np.nan
                    continue
                total = float(a["households"].sum())
                cov = float(a.loc[a[gaps.covered_column(t)], "households"].sum())
                row[col] = cov / total if total > 0 else np.nan
            if a is not None and len(a):
                gap = ~a[gaps.covered_column(tmax)].to_numpy(dtype=bool)
                left = float(a.loc[gap, "households"].sum())
                row[f"{key}_gaps"] = int(gap.sum())
                row[f"{key}_households_left_out"] = left
                left_most = max(left_most, left)
                share = row[f"{key}_covered_{gaps.minutes_label(tmax)}min"]
                if np.isfinite(share):
                    worst = min(worst, share)
            else:
                row[f"{key}_gaps"] = np.nan
                row[f"{key}_households_left_out"] = np.nan
        row["worst_share_covered"] = worst if np.isfinite(worst) else np.nan
        # the most households one service leaves out (never more than the area has)
        row["households_left_out"] = left_most if res.status == "ok" else np.nan
        row["compounds_shared"] = plan.shared.get(res.name, 0) if plan is not None else 0
        row["overlaps_with"] = ", ".join(overlaps.get(res.name, []))
        row["network_edges"] = res.edges
        row["seconds"] = res.seconds.get("total", np.nan)
        row["peak_rss_mb"] = res.peak_rss_mb
        row["worker"] = res.worker
        row["error"] = res.error
        rows.append(row)
    table = pd.DataFrame(rows)
    order = table.assign(
        _s=table["status"].map(_STATUS_ORDER),
        _w=table["worst_share_covered"].fillna(-1.0),
        _l=-table["households_left_out"].fillna(0.0),
    ).sort_values(["_s", "_w", "_l", "area"], kind="mergesort")
    table = table.loc[order.index].reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def write_batch(result: BatchResult, out_dir: str | Path) -> list[Path]:
    """Write the combined outputs of a batch, each file atomically.

    Parameters
    ----------
    result
        From :func:`run_batch`.
    out_dir
        Output folder (created when missing).

    Returns
    -------
    list of Path
        ``compounds.csv``, ``stations.csv``, ``gaps.csv``, ``summary.csv`` (as
        :func:`coverage.pipeline.write_analysis` writes them, with an ``area`` column),
        ``summary.json`` (the whole batch and every area), ``coverage.gpkg`` and
        ``areas.csv``: one row per area (``rank``, ``area``, ``status`` ok / empty /
        failed, ``compounds``, ``households``, per service ``<service>_covered_<T>min``
        (share of households), ``<service>_gaps`` and ``<service>_households_left_out`` at
        the largest threshold, ``worst_share_covered`` (lowest share over the services),
        ``households_left_out`` (the most any one service leaves out),
        ``compounds_shared``, ``overlaps_with``, ``network_edges``, ``seconds``,
        ``peak_rss_mb``, ``worker``, ``error``), failed areas first, then empty ones, then
        by ``worst_share_covered`` ascending.
    """
    out = Path(out_dir)
    analysis = pipeline.Analysis(result.name, result.services, result.summary, result.note)
    written = pipeline.write_analysis(analysis, out)
    path = out / "summary.json"
    with atomic_path(path) as tmp:
        tmp.write_text(
            json.dumps(_summary_json(result), ensure_ascii=False, indent=2), encoding="utf-8"
        )
    path = out / "areas.csv"
    with atomic_path(path) as tmp:
        table = result.table.copy()
        floats = table.select_dtypes("float").columns
        table[floats] = table[floats].round(4)
        table.to_csv(tmp, index=False, encoding="utf-8-sig")
    written.append(path)
    return written


def _summary_json(result: BatchResult) -> dict[str, Any]:
    areas: dict[str, Any] = {}
    for res in result.areas:
        entry: dict[str, Any] = {"status": res.status}
        if res.error:
            entry["error"] = res.error
        if res.status == "ok":
            entry["services"] = {
                key: {
                    "thresholds": {
                        gaps.minutes_label(r["minutes"]): {
                            "households_total": float(r["households_total"]),
                            "households_covered": float(r["households_covered"]),
                            "share_covered": None
                            if pd.isna(r["share_covered"])
                            else float(r["share_covered"]),
                            "compounds_total": int(r["compounds_total"]),
                            "compounds_covered": int(r["compounds_covered"]),
                        }
                        for r in table[table["scope"] == "area"].to_dict("records")
                    }
                }
                for key, table in res.summary.items()
            }
        areas[res.name] = entry
    payload: dict[str, Any] = {"batch": result.name}
    if result.note:
        payload["note"] = result.note
    payload["areas_total"] = len(result.areas)
    payload["areas_failed"] = result.failed
    payload["compounds_outside_areas"] = result.unassigned
    payload["overlapping_areas"] = [list(p) for p in result.overlaps]
    if result.buffer_m is not None:
        payload["buffer_m"] = round(result.buffer_m, 1)
        payload["walk_min_exact"] = (
            "walk_min is exact up to each service's largest threshold; beyond it the time was "
            "searched inside the area plus its buffer only (walk_min_exact = false): the true "
            "time is over the largest threshold and at most walk_min"
        )
    payload["services"] = result.summary
    payload["areas"] = areas
    return payload


# --------------------------------------------------------------------------------------------
# the cluster


def connect(
    scheduler: str | None = None, *, workers: int | None = None, timeout: float = 10.0
) -> Client:
    """Connect to a Dask scheduler, or start a local cluster of worker processes.

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://HOST:8786``, started with ``dask
        scheduler``); ``None`` starts a ``LocalCluster`` on 127.0.0.1.
    workers
        Worker processes of the local cluster (default: one per core), one thread each.
    timeout
        Seconds to wait for the scheduler.

    Returns
    -------
    distributed.Client
        Close it (``client.close()``) when done; a local cluster closes with it.

    Raises
    ------
    InputError
        The scheduler does not answer.
    """
    from distributed import Client

    if scheduler is not None:
        try:
            return Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(
                Problem(
                    "--scheduler",
                    f"Dask 调度器无应答 (the Dask scheduler at {scheduler} does not answer "
                    f"within {timeout:g} s: {exc}); start it with `dask scheduler` and "
                    "`dask worker`, or leave out --scheduler to run on this machine",
                )
            ) from None
    # loopback only; a free port for the scheduler's web server (the dashboard needs bokeh)
    return Client(
        n_workers=workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        # Dask's own warnings at shutdown ("worker process still alive ... killing") are
        # noise to a planner; errors still show
        silence_logs=logging.ERROR,
        set_as_default=False,
    )


def dashboard_link(client: Client) -> str | None:
    """Return the Dask dashboard's address, or None when it is not served (no bokeh).

    Parameters
    ----------
    client
        The client of :func:`connect`.

    Returns
    -------
    str or None
    """
    if importlib.util.find_spec("bokeh") is None:
        return None
    link = getattr(client, "dashboard_link", None)
    return str(link) if link else None
