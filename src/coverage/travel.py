"""Shortest walk times on the network: the one place for all Dijkstra work.

Everything runs on arrays with :mod:`scipy.sparse.csgraph`. A :class:`TravelGraph` holds the
network's CSR adjacency for one travel profile (weights in minutes: ``length_m * factor /
speed``; parallel edges reduced to the fastest, self-loops dropped; both directions stored) and
the node coordinates in metres. It is built once per (network, profile) and cached; it pickles.
The profile-independent part (node order, CSR structure) is built once per network and shared
by every profile, so a second profile costs only its weights.

Compounds snapped once
    Both public functions take either the compound layer or a
    :class:`~coverage.snap.SnappedCompounds` from :func:`coverage.snap.snap_compounds`. Snapping
    does not depend on the profile, so a study with several service types snaps its compounds
    once; the per-service work is then snapping the stations, one Dijkstra and array work. The
    access points' entries in a profile's graph are made on the first call and cached with the
    (read-only) snapped compounds. The results are identical either way (the layer is snapped
    by the same function).

How points enter the network
    Compounds (through their access points, see :mod:`coverage.snap`) and stations are snapped
    onto the nearest walkable edge. A snapped point reaches both ends of its edge: ``u`` after
    ``along_m`` and ``v`` after ``length_m - along_m`` (at the edge's factor), plus the straight
    access leg at the profile's speed (no factor). When a compound's access point and a station
    lie on the **same edge**, the direct way along the edge, ``|along_a - along_s|``, is also
    considered, so the result is exact. A compound's time is the best over its access points,
    and for an ``open`` compound also over the boundary points opposite the stations standing on
    the edges its boundary walks to (:class:`coverage.access.OpenSpans`, :func:`_feet`).

Stations
    Every station is a virtual node with one-way edges to the two ends of its edge, so one
    multi-source run (``min_only=True``) gives every node its nearest station. The run has no
    distance limit: a compound's nearest station is found however far it is (the gap list
    reports the minutes short). Each compound then takes the best of its access points, each
    the best of its edge's two ends and of any station on the same edge, with vectorised
    reductions over the access points (which are in compound order). Stations farther
    than ``max_snap_m`` from the network are left out with a
    :class:`~coverage.errors.CoverageWarning` naming them (also logged);
    :func:`coverage.snap.snap_points` gives the per-station table with
    ``reason="far_from_network"`` for reports.

Every pair within a limit (:func:`walk_times`)
    Stations are taken in spatially compact batches; each batch runs one ``limit``-ed Dijkstra
    on the subgraph of nodes inside the batch's bounding box grown by
    :meth:`TravelGraph.reach_m`. Walk time is at least the straight distance divided by the
    speed (divided by the smallest factor when a factor is below 1, and corrected for the
    largest ratio of drawn to ``length_m`` length), so no node outside that box is within the
    limit or on a path to a node within it: the result equals a search on the whole graph.
    Memory stays bounded: a batch's distance matrix is kept near 128 MB.

Reasons in the nearest table
    ``"far_from_network"``: none of the compound's access points is within ``max_snap_m`` of a
    walkable edge. ``"unreachable"``: snapped, but no station can be reached (a network island
    without a station). ``"no_access"``: the study's access rule gave the compound no access
    point (``access = "gates"`` without a usable gate, ``"entries"`` without an entering way).
    ``""`` otherwise.
"""

from __future__ import annotations

import itertools
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from pandas.api.extensions import ExtensionArray
from scipy.sparse.csgraph import dijkstra

from coverage.access import OpenSpans
from coverage.config import DEFAULT_MAX_SNAP_M, Profile
from coverage.errors import FarFromNetworkWarning, InputError, Problem
from coverage.gridindex import GridIndex, grid_cell_m, grid_index
from coverage.snap import SnappedPoints, snap_compounds, snap_layer
from coverage.walknetwork import WalkNetwork

__all__ = [
    "NodeTimes",
    "StationField",
    "TravelGraph",
    "nearest_station",
    "node_times",
    "node_times_by_source",
    "station_field",
    "to_sparse",
    "travel_graph",
    "walk_times",
]

log = logging.getLogger(__name__)

_BATCH_MAX = 64
"""At most this many stations per limited Dijkstra batch."""

_CROWDED = 4
"""Stations in one cell (two reaches wide) from which they share one subgraph (dense runs)."""

_GRID_OF_REACH = 0.5
"""Cell of the node grid of :func:`walk_times`, as a share of the search's reach."""

_BATCH_CELLS = 16_000_000
"""Target size of one batch's matrices (sources x (local nodes + access points)): 128 MB."""

_REASONS = pd.array(["", "unreachable", "far_from_network", "no_access"], dtype="str")


@dataclass(frozen=True, eq=False)
class TravelGraph:
    """The network as arrays for one travel profile (built once, cached, picklable).

    Attributes
    ----------
    profile
        The travel profile.
    rank
        Row of every network node (by node index) in ``csr``: nodes are renumbered in a
        Z-order of their coordinates, which keeps Dijkstra's memory accesses local (about a
        quarter faster than OSM order on large networks).
    csr
        ``n x n`` directed CSR matrix holding both directions of every edge; weights in minutes.
        Rows and columns are in ``rank`` order.
    edge_min_per_m
        Minutes per metre of ``length_m`` on every edge (``factor / speed``).
    edge_length_m
        ``length_m`` of every edge.
    edge_u, edge_v
        End node indices of every edge (network node index, not ``rank``).
    node_x, node_y
        Node coordinates in the network's metric CRS, in ``rank`` order.
    min_factor
        ``min(1, smallest factor used on any edge)``.
    stretch
        ``max(1, largest ratio of an edge's projected length to its length_m)``.
    network_fingerprint
        :attr:`coverage.netarrays.EdgeIndex.fingerprint` of the network (snapped points
        must come from the same network).
    """

    profile: Profile
    rank: np.ndarray
    csr: sp.csr_matrix
    edge_min_per_m: np.ndarray
    edge_length_m: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    min_factor: float
    stretch: float
    network_fingerprint: str

    @property
    def n_nodes(self) -> int:
        """Number of network nodes."""
        return int(self.csr.shape[0])

    def reach_m(self, limit_min: float) -> float:
        """Return a straight-line radius (metres) containing everything within ``limit_min``.

        Walk time >= (access leg + summed ``length_m``) * min_factor / speed, and the straight
        distance <= stretch * that length, so nodes farther than this from a source cannot be
        reached, nor lie on a path to a node that can, within the limit.

        Parameters
        ----------
        limit_min
            Time limit in minutes.

        Returns
        -------
        float
        """
        metres = limit_min * self.profile.speed_m_per_min / self.min_factor * self.stretch
        return metres * (1.0 + 1e-9) + 1e-6


def _profile_key(profile: Profile) -> tuple[object, ...]:
    return (profile.name, float(profile.speed_kmh), tuple(sorted(profile.factors.items())))


def travel_graph(network: WalkNetwork, *, profile: Profile) -> TravelGraph:
    """Return the network's arrays for ``profile`` (built once, kept with the network).

    Parameters
    ----------
    network
        The walk network.
    profile
        The travel profile (speed and factors by ``highway`` value).

    Returns
    -------
    TravelGraph

    Raises
    ------
    InputError
        When the speed or a factor is not positive.
    """
    return network.derived(
        ("travel_graph", _profile_key(profile)), lambda: _build_graph(network, profile)
    )


def _build_graph(network: WalkNetwork, profile: Profile) -> TravelGraph:
    bad = [f"speed_kmh={profile.speed_kmh}"] if not profile.speed_kmh > 0 else []
    bad += [f"factors.{k}={f}" for k, f in profile.factors.items() if not f > 0]
    if bad:
        raise InputError(
            f"出行方式参数无效 (invalid travel profile {profile.name!r}): {', '.join(bad)}; "
            "speed and factors must be positive"
        )
    t0 = time.perf_counter()
    lay = network.layout
    index = network.edge_index
    table = np.array([float(profile.factors.get(h, 1.0)) for h in lay.highways] + [1.0])
    factor = table[lay.highway_code]  # code -1 (no highway) takes the last entry, 1.0
    min_per_m = factor / profile.speed_m_per_min
    weight = lay.length_m * min_per_m
    # parallel edges reduced to the fastest
    data = (
        np.minimum.reduceat(weight[lay.arc_edge], lay.pair_start)
        if len(lay.pair_start)
        else np.zeros(0)
    )
    n = len(lay.rank)
    csr = sp.csr_matrix((data, lay.indices, lay.indptr), shape=(n, n))
    graph = TravelGraph(
        profile=profile,
        rank=lay.rank,
        csr=csr,
        edge_min_per_m=min_per_m,
        edge_length_m=lay.length_m,
        edge_u=index.u,
        edge_v=index.v,
        node_x=lay.node_x,
        node_y=lay.node_y,
        min_factor=float(min(1.0, factor.min() if len(factor) else 1.0)),
        stretch=lay.stretch,
        network_fingerprint=index.fingerprint,
    )
    log.info(
        "travel graph for profile %r: %d nodes, %d directed arcs (%.2f s)",
        profile.name,
        n,
        csr.nnz,
        time.perf_counter() - t0,
    )
    return graph


# --------------------------------------------------------------------------------------------
# entering the network


@dataclass(frozen=True)
class _Entries:
    """Snapped points as arrays: who they belong to and their cost to each end of the edge."""

    owner: np.ndarray  # position of the compound / station the point belongs to
    edge: np.ndarray
    u: np.ndarray  # CSR row of the edge's u end (TravelGraph.rank of the node index)
    v: np.ndarray  # CSR row of the edge's v end
    along_m: np.ndarray
    leg_min: np.ndarray  # access leg at the profile speed, no factor
    to_u_min: np.ndarray  # along the edge to u
    to_v_min: np.ndarray  # along the edge to v

    def __len__(self) -> int:
        return len(self.owner)


def _entries(points: SnappedPoints, graph: TravelGraph) -> _Entries:
    """Snapped points (edge, along, access leg) as entries with the profile's minutes."""
    edge, along_m = points.edge, points.along_m
    mpm = graph.edge_min_per_m[edge]
    return _Entries(
        owner=points.owner,
        edge=edge,
        u=graph.rank[graph.edge_u[edge]],
        v=graph.rank[graph.edge_v[edge]],
        along_m=along_m,
        leg_min=points.access_m / graph.profile.speed_m_per_min,
        to_u_min=along_m * mpm,
        to_v_min=np.maximum(graph.edge_length_m[edge] - along_m, 0.0) * mpm,
    )


def _station_points(
    stations: gpd.GeoDataFrame | SnappedPoints, network: WalkNetwork, *, max_snap_m: float
) -> SnappedPoints:
    """The stations snapped (given, or snapped now); raise on an empty or bad layer."""
    if len(stations) == 0:
        raise InputError(
            Problem(
                "stations",
                "站点图层为空 (the station layer is empty); give at least one station",
            )
        )
    if isinstance(stations, SnappedPoints):
        stations.check_network(network)
        return stations
    return snap_layer(stations, network, id_column="station_id", max_snap_m=max_snap_m)


def _warn_far_stations(stations: SnappedPoints) -> None:
    far = ~stations.snapped
    if not far.any():
        return
    names = ", ".join(map(str, stations.ids[far][:10])) + (" ..." if far.sum() > 10 else "")
    max_snap_m = stations.max_snap_m
    msg = (
        f"{int(far.sum())} 个站点距步行道路超过 {max_snap_m:g} 米，未参与计算: {names}; 请核对"
        f"其坐标 ({int(far.sum())} of {len(stations)} stations are farther than "
        f"{max_snap_m:g} m from any walkable way and were left out: {names}; check their "
        "coordinates; their reason is 'far_from_network')"
    )
    warnings.warn(msg, FarFromNetworkWarning, stacklevel=4)


@dataclass(frozen=True, eq=False)
class _Origins:
    """Snapped access points as entries of one TravelGraph (kept with the snapped points)."""

    aps: _Entries  # owner = feature position, ascending
    starts: np.ndarray  # first access point of every feature that has one
    comp: np.ndarray  # that feature
    single: bool  # no feature has more than one access point
    by_edge: np.ndarray  # access points sorted by edge (stable)
    edge_sorted: np.ndarray  # their edges
    spans: OpenSpans  # open boundary stretches, sorted by edge (stable)


def _origin_entries(points: SnappedPoints, graph: TravelGraph) -> _Origins:
    """Access points as entries of ``graph``: made once per (snapped points, graph).

    The arrays of a :class:`SnappedPoints` are read-only, so they cannot go stale.
    """
    return points.derived(graph, lambda: _make_origins(points, graph))


def _make_origins(points: SnappedPoints, graph: TravelGraph) -> _Origins:
    aps = _entries(points, graph)
    owner = aps.owner
    starts = (
        np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        if len(owner)
        else np.empty(0, dtype=np.int64)
    )
    by_edge = np.argsort(aps.edge, kind="stable")
    spans = points.spans
    return _Origins(
        aps=aps,
        starts=starts,
        comp=owner[starts],
        single=len(starts) == len(owner),
        by_edge=by_edge,
        edge_sorted=aps.edge[by_edge],
        spans=spans.take(np.argsort(spans.edge, kind="stable")),
    )


@dataclass(frozen=True)
class _Prepared:
    graph: TravelGraph
    origins: _Origins
    aps: _Entries  # snapped access points; owner = compound position
    compound_snapped: np.ndarray  # bool per compound: at least one access point snapped
    no_access: np.ndarray  # bool per compound: the access rule gave it no access point
    stations: _Entries  # snapped stations; owner = station position
    station_x: np.ndarray  # metric position of every snapped station
    station_y: np.ndarray
    ap_x: np.ndarray  # metric position of every snapped access point
    ap_y: np.ndarray
    max_snap_m: float  # the compounds' snapping limit
    compound_ids: ExtensionArray  # pandas "str" array, one per compound
    station_ids: ExtensionArray  # pandas "str" array, one per station of the layer


def _origins(
    compounds: gpd.GeoDataFrame | SnappedPoints,
    network: WalkNetwork,
    *,
    max_snap_m: float,
    entrances: gpd.GeoDataFrame | None,
) -> SnappedPoints:
    """The compounds' snapped access points: given, or snapped now."""
    if isinstance(compounds, SnappedPoints):
        if entrances is not None:
            raise InputError(
                "小区已吸附，入口应在 snap_compounds 时给出 (the compounds are already "
                "snapped: give entrances to snap_compounds, not here)"
            )
        compounds.check_network(network)
        return compounds
    return snap_compounds(compounds, network, entrances=entrances, max_snap_m=max_snap_m)


def _prepare(
    compounds: gpd.GeoDataFrame | SnappedPoints,
    stations: gpd.GeoDataFrame | SnappedPoints,
    network: WalkNetwork,
    *,
    profile: Profile,
    max_snap_m: float,
    entrances: gpd.GeoDataFrame | None,
) -> _Prepared:
    """Snap stations and compounds (unless given snapped), build the graph and entries."""
    st_points = _station_points(stations, network, max_snap_m=max_snap_m)
    origins = _origins(compounds, network, max_snap_m=max_snap_m, entrances=entrances)
    graph = travel_graph(network, profile=profile)
    prepared = _origin_entries(origins, graph)
    _warn_far_stations(st_points)
    return _Prepared(
        graph=graph,
        origins=prepared,
        aps=prepared.aps,
        compound_snapped=origins.snapped,
        no_access=origins.rule == "none",
        stations=_entries(st_points, graph),
        station_x=st_points.x,
        station_y=st_points.y,
        ap_x=origins.x,
        ap_y=origins.y,
        max_snap_m=origins.max_snap_m,
        compound_ids=origins.ids,
        station_ids=st_points.ids,
    )


def _with_sources(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    n: int,
    to_u: np.ndarray,
    to_v: np.ndarray,
    w_u: np.ndarray,
    w_v: np.ndarray,
) -> sp.csr_matrix:
    """Append one virtual source row per station (one-way arcs to ``to_u``/``to_v``, -1 = none)."""
    k = len(to_u)
    cols = np.stack([to_u, to_v], axis=1)
    w = np.stack([w_u, w_v], axis=1)
    same = cols[:, 0] == cols[:, 1]  # a loop edge, or both ends identical: keep the faster
    w[same, 0] = np.minimum(w[same, 0], w[same, 1])
    valid = cols >= 0
    valid[same, 1] = False
    counts = valid.sum(axis=1)
    itype = indices.dtype
    new_indptr = np.concatenate([indptr, indptr[-1] + np.cumsum(counts)]).astype(itype)
    new_indices = np.concatenate([indices, cols[valid].astype(itype)])
    new_data = np.concatenate([data, w[valid]])
    size = n + k
    return sp.csr_matrix((new_data, new_indices, new_indptr), shape=(size, size))


def _same_edge(org: _Origins, st: _Entries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(access point position, station entry position, minutes) for pairs sharing an edge.

    Sorted by access point, then station.
    """
    aps = org.aps
    if len(aps) == 0 or len(st) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    lo = np.searchsorted(org.edge_sorted, st.edge, side="left")
    hi = np.searchsorted(org.edge_sorted, st.edge, side="right")
    counts = hi - lo
    s = np.repeat(np.arange(len(st)), counts)
    offs = np.arange(len(s)) - np.repeat(np.cumsum(counts) - counts, counts)
    a = org.by_edge[np.repeat(lo, counts) + offs]
    order = np.lexsort((s, a))
    a, s = a[order], s[order]
    # minutes along the edge between the two points, at the edge's factor
    span = np.abs(aps.to_u_min[a] - st.to_u_min[s])
    t = (span + st.leg_min[s]) + aps.leg_min[a]
    return a, s, t


def _feet(
    org: _Origins, st: _Entries, graph: TravelGraph, max_snap_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(compound, station entry, minutes, x, y) of the boundary points opposite stations.

    A station on the edge of an open compound's boundary stretch
    (:class:`coverage.access.OpenSpans`) is reached best from the stretch's point whose
    nearest spot on the edge is the station's own: its straight leg, then nothing along the
    edge, then the station's leg. Vectorised over every (stretch, station on its edge) pair.
    """
    sp = org.spans
    if len(sp) == 0 or len(st) == 0:
        none = np.empty(0, dtype=np.int64)
        return none, none, np.empty(0), np.empty(0), np.empty(0)
    lo = np.searchsorted(sp.edge, st.edge, side="left")
    hi = np.searchsorted(sp.edge, st.edge, side="right")
    counts = hi - lo
    s = np.repeat(np.arange(len(st)), counts)
    j = np.repeat(lo, counts) + np.arange(len(s)) - np.repeat(np.cumsum(counts) - counts, counts)
    a = st.along_m[s]
    tol = 1e-9 * (1.0 + np.abs(a))
    leg = np.abs(sp.c0[j] + sp.c1[j] * a)
    ok = (a >= sp.lo[j] - tol) & (a <= sp.hi[j] + tol) & (leg <= max_snap_m)
    j, s, a, leg = j[ok], s[ok], a[ok], leg[ok]
    # the same formula as an access point on the station's spot (_same_edge, span 0)
    t = (0.0 + st.leg_min[s]) + leg / graph.profile.speed_m_per_min
    return sp.owner[j], s, t, sp.x0[j] + sp.x1[j] * a, sp.y0[j] + sp.y1[j] * a


def _ap_time(dist: np.ndarray, to_side: np.ndarray, leg: np.ndarray) -> np.ndarray:
    # one formula for both functions, so the nearest times agree to the last bit
    return (dist + to_side) + leg


def _multi_source(
    graph: TravelGraph, st: _Entries, *, limit: float = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """Minutes from the nearest station to every node (CSR rows), and that station's entry.

    The entry is negative for a node no station reaches within ``limit`` (its time is
    ``inf``). Both arrays also hold the virtual source nodes after the ``n`` real ones.
    """
    n = graph.n_nodes
    csr = graph.csr
    aug = _with_sources(
        csr.indptr,
        csr.indices,
        csr.data,
        n,
        st.u,
        st.v,
        st.leg_min + st.to_u_min,
        st.leg_min + st.to_v_min,
    )
    dist, _pred, src = dijkstra(
        aug,
        directed=True,
        indices=n + np.arange(len(st)),
        min_only=True,
        return_predecessors=True,
        limit=limit,
    )
    # every reached node's source is a virtual node (n + entry); scipy gives -9999 otherwise
    src -= n
    return dist, src


@dataclass(frozen=True, eq=False)
class StationField:
    """Minutes from the nearest station to every node of one travel graph (made in advance).

    Made by :func:`station_field`: the station side of :func:`nearest_station`, which depends
    only on the stations and the profile's graph, not on the compounds, so it can be computed
    while the compounds are being snapped (``nearest_station(..., station_field=field)``).
    Pickles.

    Attributes
    ----------
    stations
        The snapped stations it was made from (``nearest_station`` checks it gets the same).
    profile
        The travel profile of the graph.
    network_fingerprint
        :attr:`TravelGraph.network_fingerprint` of the graph.
    minutes
        float64 per CSR row of the graph (``TravelGraph.rank`` order), then one per station
        entry: minutes from the nearest station, ``inf`` where none reaches.
    entry
        int per row: the snapped station (position among the stations' snapped points) the
        time comes from; negative where ``minutes`` is ``inf``.
    """

    stations: SnappedPoints
    profile: Profile
    network_fingerprint: str
    minutes: np.ndarray
    entry: np.ndarray

    def __repr__(self) -> str:
        reached = int(np.isfinite(self.minutes).sum())
        return (
            f"<StationField {len(self.stations)} stations, profile {self.profile.name!r}, "
            f"{reached} rows reached>"
        )


def station_field(graph: TravelGraph, stations: SnappedPoints) -> StationField:
    """The stations' multi-source Dijkstra run of :func:`nearest_station`, made in advance.

    Reads only the graph's and the stations' arrays (no lazily built attribute of the
    network), so it may run on another thread while the compounds are snapped.

    Parameters
    ----------
    graph
        The travel graph of the network and profile (:func:`travel_graph`).
    stations
        The stations snapped onto the same network (:func:`coverage.snap.snap_layer`); the
        ones not snapped are left out.

    Returns
    -------
    StationField

    Raises
    ------
    InputError
        When ``stations`` is not :class:`~coverage.snap.SnappedPoints` of this graph's network.
    """
    _check_sources(graph, stations, None)
    entries = _entries(stations, graph)
    if len(entries):
        dist, src = _multi_source(graph, entries)
    else:  # no station snapped: nothing reaches any node (nearest_station does not look)
        dist = np.full(graph.n_nodes, np.inf)
        src = np.full(graph.n_nodes, -1, dtype=np.int64)
    dist.flags.writeable = False
    src.flags.writeable = False
    return StationField(
        stations=stations,
        profile=graph.profile,
        network_fingerprint=graph.network_fingerprint,
        minutes=dist,
        entry=src,
    )


def _same_points(a: SnappedPoints, b: object) -> bool:
    """Whether ``b`` is ``a`` or snapped points with the same entries (e.g. a pickled copy)."""
    if a is b:
        return True
    if not isinstance(b, SnappedPoints) or len(a) != len(b):
        return False
    return all(
        np.array_equal(getattr(a, name), getattr(b, name))
        for name in ("owner", "edge", "along_m", "access_m")
    )


def _field_for(prep: _Prepared, field: StationField | None, stations: object) -> None:
    """Raise unless ``field`` was made from these stations on the prepared graph."""
    if field is None:
        return
    graph = prep.graph
    if (
        not _same_points(field.stations, stations)
        or _profile_key(field.profile) != _profile_key(graph.profile)
        or field.network_fingerprint != graph.network_fingerprint
    ):
        raise InputError(
            "station_field 与所给站点或出行方式不符 (station_field was made from other stations, "
            "another profile or another network): make it with station_field(travel_graph("
            "network, profile=profile), stations) from the same snapped stations"
        )


def _nearest(
    prep: _Prepared, n_comp: int, field: StationField | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Best minutes, nearest station (position in the layer), access point and its position
    of every compound.

    ``inf``, -1, -1, NaN, NaN for a compound no station reaches. The access point is the
    position among the snapped access points of the first one achieving the best time (for
    a boundary point opposite a station, :func:`_feet`, the compound's first access point;
    the position given is the boundary point's). Vectorised: the best of the two ends (and
    of any station on the same edge) per access point, then the best access point per
    compound with ``minimum.reduceat`` over the access points, which are in compound order
    (skipped when every compound has at most one), then the points opposite stations.
    """
    org, aps, st = prep.origins, prep.aps, prep.stations
    best = np.full(n_comp, np.inf)
    best_station = np.full(n_comp, -1, dtype=np.int64)
    best_ap = np.full(n_comp, -1, dtype=np.int64)
    best_x = np.full(n_comp, np.nan)
    best_y = np.full(n_comp, np.nan)
    if len(st) == 0 or len(aps) == 0:
        return best, best_station, best_ap, best_x, best_y
    dist, src = (field.minutes, field.entry) if field is not None else _multi_source(prep.graph, st)
    t_u = _ap_time(dist[aps.u], aps.to_u_min, aps.leg_min)
    t_v = _ap_time(dist[aps.v], aps.to_v_min, aps.leg_min)
    via_v = t_v < t_u
    t_ap = np.where(via_v, t_v, t_u)
    s_ap = src[np.where(via_v, aps.v, aps.u)]  # negative where t_ap is inf
    a_same, s_same, t_same = _same_edge(org, st)
    if len(a_same):
        order = np.lexsort((t_same, a_same))
        a_sorted = a_same[order]
        first = order[np.r_[True, a_sorted[1:] != a_sorted[:-1]]]
        a1, t1 = a_same[first], t_same[first]
        better = t1 < t_ap[a1]
        t_ap[a1[better]] = t1[better]
        s_ap[a1[better]] = s_same[first][better]
    comp = org.comp
    if org.single:
        group_best = t_ap
        first_hit = s_ap
        at = np.arange(len(t_ap))
    else:
        starts = org.starts
        counts = np.diff(np.r_[starts, len(t_ap)])
        group_best = np.minimum.reduceat(t_ap, starts)
        # the first access point of each compound where its best time occurs (one always does)
        hit = t_ap == np.repeat(group_best, counts)
        at = np.minimum.reduceat(np.where(hit, np.arange(len(t_ap)), len(t_ap)), starts)
        first_hit = s_ap[at]
    found = np.isfinite(group_best)
    best[comp] = group_best
    best_station[comp[found]] = st.owner[first_hit[found]]
    best_ap[comp[found]] = at[found]
    best_x[comp[found]] = prep.ap_x[at[found]]
    best_y[comp[found]] = prep.ap_y[at[found]]
    f_comp, f_st, f_t, f_x, f_y = _feet(org, st, prep.graph, prep.max_snap_m)
    if len(f_comp):
        order = np.lexsort((f_t, f_comp))
        c_sorted = f_comp[order]
        first = order[np.r_[True, c_sorted[1:] != c_sorted[:-1]]]
        better = first[f_t[first] < best[f_comp[first]]]
        c = f_comp[better]
        best[c] = f_t[better]
        best_station[c] = st.owner[f_st[better]]
        first_ap = np.full(n_comp, -1, dtype=np.int64)
        first_ap[comp] = org.starts
        best_ap[c] = first_ap[c]
        best_x[c] = f_x[better]
        best_y[c] = f_y[better]
    return best, best_station, best_ap, best_x, best_y


# --------------------------------------------------------------------------------------------
# public


def nearest_station(
    compounds: gpd.GeoDataFrame | SnappedPoints,
    stations: gpd.GeoDataFrame | SnappedPoints,
    network: WalkNetwork,
    *,
    profile: Profile,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    entrances: gpd.GeoDataFrame | None = None,
    with_access_point: bool = False,
    station_field: StationField | None = None,
) -> pd.DataFrame:
    """Walk time from every compound to its nearest station (one multi-source Dijkstra run).

    Parameters
    ----------
    compounds
        Compound layer (``compound_id``, Point or polygon geometry, any CRS), or the
        compounds already snapped by :func:`coverage.snap.snap_compounds` (the fast way when
        several service types or profiles use the same compounds: the results are identical).
    stations
        Station layer (``station_id``, Point geometry, any CRS); must not be empty.
    network
        The walk network.
    profile
        Travel profile (speed, factors by ``highway``).
    max_snap_m
        Points farther than this from every walkable edge are not snapped (for already
        snapped compounds it applies to the stations only).
    entrances
        Optional OSM entrance points used as gates of polygon compounds (not with already
        snapped compounds: give them to :func:`coverage.snap.snap_compounds`).
    with_access_point
        Add the columns ``access_index``: the position, among the compounds' snapped access
        points (the arrays of :class:`~coverage.snap.SnappedCompounds`), of the one the best
        time leaves from (-1 when no station is reached), and ``access_x``, ``access_y``: its
        position in the network's metric CRS (NaN when none). For a compound entered by the
        ``open`` rule, the best point can be the boundary point opposite a station standing
        on the edge that point walks to (see :class:`coverage.access.OpenSpans`): it is not
        among the snapped access points, so ``access_index`` is then the compound's first
        one and ``access_x``, ``access_y`` give the point.
    station_field
        The stations' Dijkstra run made in advance by :func:`station_field` from the same
        snapped ``stations`` and this profile's graph (e.g. on another thread while the
        compounds were snapped); the result is identical to the run made here without it.

    Returns
    -------
    pandas.DataFrame
        One row per compound, in input order: ``compound_id``, ``nearest_station_id`` (str,
        missing when none), ``walk_min`` (float64, NaN when none), ``reason`` (``""``,
        ``"unreachable"``, ``"far_from_network"`` or ``"no_access"``: the access rule gave
        the compound no access point, see :mod:`coverage.access`).

    Raises
    ------
    InputError
        When the station layer is empty, ids are missing or duplicated, or geometry is missing;
        when snapped compounds come with ``entrances`` or belong to another network; when
        ``station_field`` was made from other stations, profile or network.
    CRSError
        When a layer has no CRS.

    Warns
    -----
    CoverageWarning
        When stations are farther than ``max_snap_m`` from the network (they are left out).

    Examples
    --------
    A 111 m path, the station at one end, the compound 10 m off its middle: (56 + 10) / 75 min.

    >>> import geopandas as gpd, pandas as pd
    >>> from shapely import LineString, Point
    >>> from coverage.config import DEFAULT_PROFILES
    >>> nodes = pd.DataFrame({"node_id": [1, 2], "lon": [0.0, 0.001], "lat": [0.0, 0.0],
    ...                       "component": [0, 0]})
    >>> edges = gpd.GeoDataFrame({"u": [0], "v": [1], "length_m": [111.3], "highway": ["path"],
    ...     "access": [None], "private": [False], "way_id": [7]},
    ...     geometry=[LineString([(0, 0), (0.001, 0)])], crs="EPSG:4326")
    >>> net = WalkNetwork(nodes, edges, "EPSG:32631")
    >>> stations = gpd.GeoDataFrame({"station_id": ["s1"]}, geometry=[Point(0, 0)],
    ...                             crs="EPSG:4326")
    >>> compounds = gpd.GeoDataFrame({"compound_id": ["c1"]},
    ...                              geometry=[Point(0.0005, 0.00009)], crs="EPSG:4326")
    >>> out = nearest_station(compounds, stations, net, profile=DEFAULT_PROFILES["adult"])
    >>> out.loc[0, "nearest_station_id"], round(float(out.loc[0, "walk_min"]), 2)
    ('s1', 0.87)
    """
    t0 = time.perf_counter()
    prep = _prepare(
        compounds, stations, network, profile=profile, max_snap_m=max_snap_m, entrances=entrances
    )
    _field_for(prep, station_field, stations)
    n_comp = len(prep.compound_ids)
    best, best_station, best_ap, best_x, best_y = _nearest(prep, n_comp, station_field)
    found = np.isfinite(best)
    code = np.where(found, 0, np.where(prep.compound_snapped, 1, np.where(prep.no_access, 3, 2)))
    best[~found] = np.nan
    out = pd.DataFrame(
        {
            "compound_id": prep.compound_ids,
            "nearest_station_id": prep.station_ids.take(best_station, allow_fill=True),
            "walk_min": best,
            "reason": _REASONS.take(code),
        }
    )
    if with_access_point:
        out["access_index"] = best_ap
        out["access_x"] = best_x
        out["access_y"] = best_y
    if log.isEnabledFor(logging.INFO):
        counts = np.bincount(code, minlength=4)
        log.info(
            "nearest station for %d compounds from %d stations: %d reached, %d unreachable, "
            "%d far from network, %d without access point (%.2f s)",
            n_comp,
            len(prep.stations),
            int(counts[0]),
            int(counts[1]),
            int(counts[2]),
            int(counts[3]),
            time.perf_counter() - t0,
        )
    return out


def _spatial_order(x: np.ndarray, y: np.ndarray, cell: float) -> np.ndarray:
    """Order points column by column (serpentine), so consecutive points are close."""
    if len(x) == 0:
        return np.empty(0, dtype=np.int64)
    cx = np.floor((x - x.min()) / cell).astype(np.int64)
    yy = np.where(cx % 2 == 0, y, -y)
    return np.lexsort((yy, cx))


def _subgraph(
    csr: sp.csr_matrix, idx: np.ndarray, loc: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays of the subgraph induced by nodes ``idx`` (``loc`` maps global -> local)."""
    starts = csr.indptr[idx].astype(np.int64)
    counts = csr.indptr[idx + 1].astype(np.int64) - starts
    ends = np.cumsum(counts)
    # the arcs of the rows, in order: position = start of the row + rank within the row
    pos = np.repeat(starts - (ends - counts), counts) + np.arange(int(ends[-1]) if len(ends) else 0)
    cols = loc[csr.indices[pos]]
    keep = cols >= 0
    # kept arcs before each row's end: the new row pointers
    kept = np.zeros(len(pos) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept[1:])
    indptr = kept[np.r_[0, ends]]
    itype = csr.indices.dtype
    return indptr.astype(itype), cols[keep].astype(itype), csr.data[pos[keep]]


def walk_times(
    compounds: gpd.GeoDataFrame | SnappedPoints,
    stations: gpd.GeoDataFrame | SnappedPoints,
    network: WalkNetwork,
    *,
    profile: Profile,
    limit_min: float,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    entrances: gpd.GeoDataFrame | None = None,
    batch_size: int | None = None,
) -> pd.DataFrame:
    """Walk times of every (compound, station) pair within ``limit_min``.

    Stations are processed in spatially compact batches; each batch runs one distance-limited
    Dijkstra on the local subgraph of nodes within :meth:`TravelGraph.reach_m` of the batch's
    stations (a bounding box), which gives exactly the same times as the whole graph.

    Parameters
    ----------
    compounds
        Compound layer (``compound_id``, Point or polygon geometry, any CRS), or the
        compounds already snapped by :func:`coverage.snap.snap_compounds` (the fast way when
        several service types or profiles use the same compounds: the results are identical).
    stations
        Station layer (``station_id``, Point geometry, any CRS); must not be empty.
    network
        The walk network.
    profile
        Travel profile.
    limit_min
        Keep pairs with ``walk_min <= limit_min``.
    max_snap_m
        Points farther than this from every walkable edge are not snapped (for already
        snapped compounds it applies to the stations only).
    entrances
        Optional OSM entrance points used as gates of polygon compounds (not with already
        snapped compounds: give them to :func:`coverage.snap.snap_compounds`).
    batch_size
        Stations per Dijkstra batch; by default chosen so a batch's distance matrix stays
        near 128 MB.

    Returns
    -------
    pandas.DataFrame
        Long table ``compound_id``, ``station_id``, ``walk_min``, sorted by compound (input
        order) then time. Compounds with no station within the limit have no rows.

    Raises
    ------
    InputError
        As :func:`nearest_station`, and when ``limit_min`` is not positive.

    Warns
    -----
    CoverageWarning
        When stations are farther than ``max_snap_m`` from the network (they are left out).
    """
    if not limit_min > 0:
        raise InputError(f"时间上限必须为正数 (limit_min must be positive), got {limit_min!r}")
    t0 = time.perf_counter()
    prep = _prepare(
        compounds, stations, network, profile=profile, max_snap_m=max_snap_m, entrances=entrances
    )
    nodes = _node_grid(network, prep.graph, limit_min)
    a, s, t, n_batches = _pairs_within(prep, nodes, limit_min, batch_size)
    f_comp, f_st, f_t, _x, _y = _feet(prep.origins, prep.stations, prep.graph, prep.max_snap_m)
    near = f_t <= limit_min
    comp, stn, t = _best_per_pair(
        np.concatenate([prep.aps.owner[a], f_comp[near]]),
        prep.stations.owner[np.concatenate([s, f_st[near]])],
        np.concatenate([t, f_t[near]]),
        len(stations),
    )
    order = np.lexsort((stn, t, comp))
    out = pd.DataFrame(
        {
            "compound_id": prep.compound_ids.take(comp[order]),
            "station_id": prep.station_ids.take(stn[order]),
            "walk_min": t[order].astype(np.float64),
        }
    )
    log.info(
        "walk times within %g min: %d pairs, %d compounds x %d stations, %d batches (%.2f s)",
        limit_min,
        len(out),
        len(prep.compound_ids),
        len(prep.stations),
        n_batches,
        time.perf_counter() - t0,
    )
    return out


def _pairs_within(
    prep: _Prepared, nodes: GridIndex, limit_min: float, batch_size: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(access point, station entry, minutes) of every pair within the limit, and searches.

    Pairs on one edge come first; a pair may appear several times (via either end).
    ``nodes`` is the grid of the graph's CSR rows (:func:`_node_grid`). Stations come in
    runs (:func:`_station_runs`): a run of stations whose boxes (station +- reach) do not
    overlap is one ``min_only`` search on the union of their boxes (every node within the
    limit of a station is reached by that station alone); a run of crowded stations is one
    search per station on their common box (a dense matrix).
    """
    graph, aps, st = prep.graph, prep.aps, prep.stations
    a_same, s_same, t_same = _same_edge(prep.origins, st)
    ok = t_same <= limit_min
    parts = [(a_same[ok], s_same[ok], t_same[ok])]
    if len(aps) == 0 or len(st) == 0:
        return parts[0] + (0,)
    reach = graph.reach_m(limit_min)
    # both ends of every access point, bucketed on the nodes' grid
    end_node = np.concatenate([aps.u, aps.v])
    end_ap = np.tile(np.arange(len(aps)), 2)
    end_min = np.concatenate([aps.to_u_min, aps.to_v_min])
    ends = grid_index(graph.node_x[end_node], graph.node_y[end_node], cell=1.0, like=nodes)
    loc = np.full(graph.n_nodes, -1, dtype=np.int64)
    n_runs = 0
    x, y = prep.station_x, prep.station_y
    for run, separate in _station_runs(x, y, reach, batch_size):
        x0, y0, x1, y1 = x[run], y[run], x[run], y[run]
        if not separate:  # one box around all of them
            x0, y0 = np.array([x0.min()]), np.array([y0.min()])
            x1, y1 = np.array([x1.max()]), np.array([y1.max()])
        boxes = (x0 - reach, y0 - reach, x1 + reach, y1 + reach)
        idx = nodes.in_boxes(*boxes)
        loc[idx] = np.arange(len(idx))
        e = ends.in_boxes(*boxes)
        e = e[loc[end_node[e]] >= 0]
        if len(e):
            sub = _subgraph(graph.csr, idx, loc)
            at = loc[end_node[e]]
            ap = end_ap[e]
            leg = (end_min[e], aps.leg_min[ap])
            chunks = [run] if separate else _chunks(run, len(idx) + len(e))
            for chunk in chunks:
                n_runs += 1
                parts.append(
                    _search(sub, len(idx), chunk, loc, st, at, ap, leg, limit_min, separate)
                )
        loc[idx] = -1
    a = np.concatenate([p[0] for p in parts])
    s = np.concatenate([p[1] for p in parts])
    t = np.concatenate([p[2] for p in parts])
    return a, s, t, n_runs


def _chunks(run: np.ndarray, width: int) -> list[np.ndarray]:
    """Split a dense run so that its matrices (stations x ``width``) stay near 128 MB."""
    size = max(1, min(_BATCH_MAX, _BATCH_CELLS // max(width, 1)))
    return [run[i : i + size] for i in range(0, len(run), size)]


def _search(
    sub: tuple[np.ndarray, np.ndarray, np.ndarray],
    n: int,
    chunk: np.ndarray,
    loc: np.ndarray,
    st: _Entries,
    at: np.ndarray,
    ap: np.ndarray,
    leg: tuple[np.ndarray, np.ndarray],
    limit_min: float,
    separate: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One limited search from the stations ``chunk`` on the subgraph ``sub`` (``n`` nodes).

    Returns the (access point, station entry, minutes) within the limit, for the access
    point ends at local nodes ``at`` (access points ``ap``, ``leg`` = their minutes along the
    edge to that end and their access leg).
    """
    graph = _with_sources(
        *sub,
        n,
        loc[st.u[chunk]],
        loc[st.v[chunk]],
        st.leg_min[chunk] + st.to_u_min[chunk],
        st.leg_min[chunk] + st.to_v_min[chunk],
    )
    sources = n + np.arange(len(chunk))
    if separate:
        dist, _pred, src = dijkstra(
            graph,
            directed=True,
            indices=sources,
            min_only=True,
            return_predecessors=True,
            limit=limit_min,
        )
        times = _ap_time(dist[at], *leg)
        hit = np.flatnonzero(times <= limit_min)
        return ap[hit], chunk[src[at[hit]] - n], times[hit]
    dist = dijkstra(graph, directed=True, indices=sources, limit=limit_min)
    times = _ap_time(dist[:, at], *leg)
    r, c = np.nonzero(times <= limit_min)
    return ap[c], chunk[r], times[r, c]


def _station_runs(
    x: np.ndarray, y: np.ndarray, reach: float, batch_size: int | None
) -> Iterator[tuple[np.ndarray, bool]]:
    """Stations (positions) in runs of one search each: ``(stations, separate)``.

    Stations are put on a grid of ``2 * reach`` cells. The stations of a crowded cell (at
    least ``_CROWDED``) make dense runs (``separate`` False): their boxes overlap, so one
    subgraph serves them all. Elsewhere, cells two apart are at least ``2 * reach`` apart, so
    the k-th station of every cell of one parity (x and y odd/even) makes a run whose boxes
    do not overlap (``separate`` True). With ``batch_size``, runs hold at most that many
    stations.
    """
    size = 2.0 * reach
    cx = np.floor((x - x.min()) / size).astype(np.int64)
    cy = np.floor((y - y.min()) / size).astype(np.int64)
    key = cy * (int(cx.max()) + 1) + cx
    order = np.argsort(key, kind="stable")
    sk = key[order]
    starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
    counts = np.diff(np.r_[starts, len(sk)])
    step = batch_size or len(x)
    for lo, n in zip(starts[counts >= _CROWDED], counts[counts >= _CROWDED], strict=True):
        for i in range(lo, lo + n, step):
            yield order[i : min(i + step, lo + n)], False
    sparse = np.repeat(counts < _CROWDED, counts)
    k = (np.arange(len(sk)) - np.repeat(starts, counts))[sparse]  # rank within its cell
    order = order[sparse]
    group = k * 4 + (cx[order] % 2) * 2 + (cy[order] % 2)
    by_group = np.argsort(group, kind="stable")
    g = group[by_group]
    bounds = np.flatnonzero(np.r_[True, g[1:] != g[:-1], True])
    for lo, hi in itertools.pairwise(bounds if len(g) else []):
        for i in range(lo, hi, step):
            yield order[by_group[i : min(i + step, hi)]], True


def _node_grid(network: WalkNetwork, graph: TravelGraph, limit_min: float) -> GridIndex:
    """The graph's CSR rows on a grid of about half the reach (one per network and size)."""
    cell = grid_cell_m(graph.reach_m(limit_min) * _GRID_OF_REACH)
    return network.derived(
        ("node_grid", cell), lambda: grid_index(graph.node_x, graph.node_y, cell=cell)
    )


def _best_per_pair(
    comp: np.ndarray, stn: np.ndarray, t: np.ndarray, n_stations: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best time of every (compound, station) pair."""
    key = comp * n_stations + stn
    order = np.lexsort((t, key))
    key, t, comp, stn = key[order], t[order], comp[order], stn[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=bool)
    return comp[first], stn[first], t[first]


# --------------------------------------------------------------------------------------------
# node level


@dataclass(frozen=True, eq=False)
class NodeTimes:
    """Walk minutes from the nearest of a set of sources to every network node.

    Made by :func:`node_times`. Plain arrays indexed by the network's node index (the row of
    ``network.nodes``); pickles.

    Attributes
    ----------
    minutes
        float64 per node: minutes from the nearest source; ``inf`` when no source reaches
        the node (within ``limit_min`` when one was given).
    source
        int64 per node: position in the sources (``SnappedPoints.ids``) of the nearest
        source, -1 where ``minutes`` is ``inf``.
    n_nodes
        Number of network nodes.
    limit_min
        The limit the times were computed with (``None``: none).
    """

    minutes: np.ndarray
    source: np.ndarray
    n_nodes: int
    limit_min: float | None = None

    def __repr__(self) -> str:
        reached = int(np.isfinite(self.minutes).sum())
        limit = "no limit" if self.limit_min is None else f"limit {self.limit_min:g} min"
        return f"<NodeTimes {reached} of {self.n_nodes} nodes reached, {limit}>"


def _check_sources(graph: TravelGraph, sources: SnappedPoints, limit_min: float | None) -> None:
    if not isinstance(sources, SnappedPoints):
        raise InputError(
            "sources 必须是已吸附的点 (sources must be SnappedPoints: use "
            f"snap_layer or snap_compounds first), got {type(sources).__name__}"
        )
    sources.check_fingerprint(graph.network_fingerprint)
    if limit_min is not None and not limit_min > 0:
        raise InputError(f"时间上限必须为正数 (limit_min must be positive), got {limit_min!r}")


def _node_of_row(graph: TravelGraph) -> np.ndarray:
    """Network node index of every CSR row (the inverse of ``graph.rank``)."""
    out = np.empty(graph.n_nodes, dtype=np.int64)
    out[graph.rank] = np.arange(graph.n_nodes)
    return out


def node_times(
    graph: TravelGraph, sources: SnappedPoints, *, limit_min: float | None = None
) -> NodeTimes:
    """Walk minutes from the nearest source to every node (one multi-source Dijkstra run).

    A source enters the network as in :func:`nearest_station`: each of its snapped points
    reaches both ends of its edge (partial lengths at the edge's factor) plus its straight
    access leg at the profile's speed; a source with several access points (a compound) is
    as near as its nearest one.

    Parameters
    ----------
    graph
        The travel graph of a network and profile (:func:`travel_graph`).
    sources
        Points snapped onto the same network (:func:`coverage.snap.snap_layer`,
        :func:`coverage.snap.snap_compounds`); unsnapped ones are left out.
    limit_min
        Stop at this many minutes (nodes beyond it get ``inf``); ``None``: no limit.

    Returns
    -------
    NodeTimes
        Minutes and nearest source per node (network node index).

    Raises
    ------
    InputError
        When ``sources`` is not :class:`~coverage.snap.SnappedPoints` of this network, or
        ``limit_min`` is not positive.

    Examples
    --------
    A 111 m path, the source 10 m off its middle: (56 + 10) / 75 min to each end.

    >>> import geopandas as gpd, pandas as pd
    >>> from shapely import LineString, Point
    >>> from coverage.config import DEFAULT_PROFILES
    >>> from coverage.snap import snap_layer
    >>> nodes = pd.DataFrame({"node_id": [1, 2], "lon": [0.0, 0.001], "lat": [0.0, 0.0],
    ...                       "component": [0, 0]})
    >>> edges = gpd.GeoDataFrame({"u": [0], "v": [1], "length_m": [111.3], "highway": ["path"],
    ...     "access": [None], "private": [False], "way_id": [7]},
    ...     geometry=[LineString([(0, 0), (0.001, 0)])], crs="EPSG:4326")
    >>> net = WalkNetwork(nodes, edges, "EPSG:32631")
    >>> src = snap_layer(gpd.GeoDataFrame({"site_id": ["a"]},
    ...     geometry=[Point(0.0005, 0.00009)], crs="EPSG:4326"), net)
    >>> got = node_times(travel_graph(net, profile=DEFAULT_PROFILES["adult"]), src)
    >>> got.minutes.round(2).tolist(), got.source.tolist()
    ([0.87, 0.87], [0, 0])
    """
    _check_sources(graph, sources, limit_min)
    n = graph.n_nodes
    minutes = np.full(n, np.inf)
    source = np.full(n, -1, dtype=np.int64)
    entries = _origin_entries(sources, graph).aps
    if len(entries) and n:
        limit = np.inf if limit_min is None else float(limit_min)
        dist, src = _multi_source(graph, entries, limit=limit)
        rows = graph.rank  # CSR row of every node index
        minutes = dist[rows]
        hit = src[rows]
        source = np.where(hit >= 0, entries.owner[np.maximum(hit, 0)], -1)
    return NodeTimes(
        minutes=minutes,
        source=source.astype(np.int64),
        n_nodes=n,
        limit_min=None if limit_min is None else float(limit_min),
    )


def node_times_by_source(
    graph: TravelGraph,
    sources: SnappedPoints,
    *,
    limit_min: float,
    batch_size: int | None = None,
) -> pd.DataFrame:
    """Walk minutes from every source to every node within ``limit_min`` (long table).

    Sources are taken in spatially compact batches; each batch runs one ``limit``-ed Dijkstra
    on the subgraph of nodes inside the batch's bounding box grown by
    :meth:`TravelGraph.reach_m`, which gives exactly the times of the whole graph (as
    :func:`walk_times`). A source with several access points (a compound) gets the best over
    them.

    Parameters
    ----------
    graph
        The travel graph of a network and profile (:func:`travel_graph`).
    sources
        Points snapped onto the same network; unsnapped ones have no rows.
    limit_min
        Keep (source, node) pairs with ``walk_min <= limit_min``.
    batch_size
        Sources per Dijkstra batch; by default chosen so a batch's distance matrix stays
        near 128 MB.

    Returns
    -------
    pandas.DataFrame
        ``source`` (int64 position in ``sources.ids``), ``node`` (int64 network node index),
        ``walk_min`` (float64), sorted by source then node.

    Raises
    ------
    InputError
        As :func:`node_times`.
    """
    _check_sources(graph, sources, limit_min)
    org = _origin_entries(sources, graph)
    aps = org.aps
    reach = graph.reach_m(limit_min)
    # one virtual row per source, arcs from all its access points; batches by first point
    counts = np.diff(np.r_[org.starts, len(aps)])
    ax, ay = sources.x, sources.y
    order = _spatial_order(ax[org.starts], ay[org.starts], 2.0 * reach)
    node_of_row = _node_of_row(graph)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for batch, idx, loc in _batches(
        graph,
        order,
        lambda b: _spans(org.starts[b], counts[b]),
        ax,
        ay,
        reach,
        batch_size,
    ):
        ent = _spans(org.starts[batch], counts[batch])
        row = np.repeat(np.arange(len(batch)), counts[batch])
        sub = _with_source_rows(
            graph.csr,
            idx,
            loc,
            len(batch),
            row,
            loc[aps.u[ent]],
            loc[aps.v[ent]],
            aps.leg_min[ent] + aps.to_u_min[ent],
            aps.leg_min[ent] + aps.to_v_min[ent],
        )
        dist = dijkstra(
            sub, directed=True, indices=len(idx) + np.arange(len(batch)), limit=limit_min
        )[:, : len(idx)]
        r, c = np.nonzero(dist <= limit_min)
        parts.append((org.comp[batch][r], node_of_row[idx[c]], dist[r, c]))
    src = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
    node = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.int64)
    t = np.concatenate([p[2] for p in parts]) if parts else np.empty(0)
    order = np.lexsort((node, src))
    return pd.DataFrame(
        {
            "source": src[order].astype(np.int64),
            "node": node[order].astype(np.int64),
            "walk_min": t[order].astype(np.float64),
        }
    )


def _spans(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Positions ``starts[i] .. starts[i] + counts[i] - 1`` for every i, concatenated."""
    total = int(counts.sum())
    return np.repeat(starts, counts) + (
        np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    )


def _batches(
    graph: TravelGraph,
    order: np.ndarray,
    points_of: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    reach: float,
    batch_size: int | None,
    extra_cells: Callable[[np.ndarray], int] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Spatially compact batches of sources and the local nodes of each.

    Yields ``(batch, idx, loc)``: the sources (values of ``order``), the CSR rows of the
    nodes inside the bounding box of the batch's points (``points_of(batch)`` index ``x``,
    ``y``) grown by ``reach``, and ``loc`` mapping a CSR row to its local position (-1 when
    outside; valid until the next batch). Without ``batch_size``, a batch is halved until its
    matrices (sources x (local nodes + ``extra_cells(mask)``)) stay within ``_BATCH_CELLS``.
    """
    nx_, ny_ = graph.node_x, graph.node_y
    loc = np.full(graph.n_nodes, -1, dtype=np.int64)
    start = 0
    while start < len(order):
        size = min(batch_size or _BATCH_MAX, len(order) - start)
        while True:
            batch = order[start : start + size]
            pts = points_of(batch)
            bx, by = x[pts], y[pts]
            mask = (
                (nx_ >= bx.min() - reach)
                & (nx_ <= bx.max() + reach)
                & (ny_ >= by.min() - reach)
                & (ny_ <= by.max() + reach)
            )
            idx = np.flatnonzero(mask)
            extra = extra_cells(mask) if extra_cells is not None else 0
            cells = size * (len(idx) + extra)
            if batch_size is not None or size == 1 or cells <= _BATCH_CELLS:
                break
            size = max(1, size // 2)
        start += size
        loc[idx] = np.arange(len(idx))
        yield batch, idx, loc
        loc[idx] = -1


def _with_source_rows(
    csr: sp.csr_matrix,
    idx: np.ndarray,
    loc: np.ndarray,
    k: int,
    row: np.ndarray,
    to_u: np.ndarray,
    to_v: np.ndarray,
    w_u: np.ndarray,
    w_v: np.ndarray,
) -> sp.csr_matrix:
    """The subgraph of nodes ``idx`` plus ``k`` virtual source rows.

    Entry ``i`` gives virtual row ``row[i]`` one-way arcs to local nodes ``to_u[i]`` and
    ``to_v[i]`` (-1 = outside, left out) with weights ``w_u[i]``, ``w_v[i]``; several arcs
    to one node from one row are reduced to the fastest.
    """
    indptr, indices, data = _subgraph(csr, idx, loc)
    r = np.concatenate([row, row])
    c = np.concatenate([to_u, to_v])
    w = np.concatenate([w_u, w_v])
    keep = c >= 0
    r, c, w = r[keep], c[keep], w[keep]
    order = np.lexsort((w, c, r))
    r, c, w = r[order], c[order], w[order]
    first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])] if len(r) else keep[:0]
    r, c, w = r[first], c[first], w[first]
    itype = indices.dtype
    counts = np.bincount(r, minlength=k)
    n = len(idx)
    new_indptr = np.concatenate([indptr, indptr[-1] + np.cumsum(counts)]).astype(itype)
    new_indices = np.concatenate([indices, c.astype(itype)])
    new_data = np.concatenate([data, w])
    return sp.csr_matrix((new_data, new_indices, new_indptr), shape=(n + k, n + k))


def to_sparse(
    long_table: pd.DataFrame, compound_ids: pd.Index | list[str], station_ids: pd.Index | list[str]
) -> sp.csr_matrix:
    """Turn a long walk-time table into a compounds x stations sparse matrix.

    Parameters
    ----------
    long_table
        ``compound_id``, ``station_id``, ``walk_min`` (as from :func:`walk_times`).
    compound_ids
        Row order (every compound id of the table must be in it).
    station_ids
        Column order (every station id of the table must be in it).

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(len(compound_ids), len(station_ids))``; stored entries are the pairs of the
        table with their minutes. A zero walk time is stored as an explicit zero, so use the
        sparsity structure (``.indices``, ``.nnz``), not ``!= 0``, to tell "within the limit".

    Raises
    ------
    InputError
        When a table id is not in the given ids, or a pair appears twice.

    Examples
    --------
    >>> long = pd.DataFrame({"compound_id": ["a", "b"], "station_id": ["s2", "s1"],
    ...                      "walk_min": [0.0, 7.5]})
    >>> m = to_sparse(long, ["a", "b", "c"], ["s1", "s2"])
    >>> m.shape, m.nnz, m.toarray().tolist()
    ((3, 2), 2, [[0.0, 0.0], [7.5, 0.0], [0.0, 0.0]])
    """
    rows_index = pd.Index(pd.array(list(compound_ids), dtype="str"))
    cols_index = pd.Index(pd.array(list(station_ids), dtype="str"))
    r = rows_index.get_indexer(pd.Index(long_table["compound_id"].astype("str")))
    c = cols_index.get_indexer(pd.Index(long_table["station_id"].astype("str")))
    problems = []
    if (r < 0).any():
        bad = long_table["compound_id"].to_numpy()[r < 0][:5]
        problems.append(f"compound ids not in compound_ids: {list(bad)}")
    if (c < 0).any():
        bad = long_table["station_id"].to_numpy()[c < 0][:5]
        problems.append(f"station ids not in station_ids: {list(bad)}")
    if not problems and pd.Series(r * len(cols_index) + c).duplicated().any():
        problems.append("a (compound_id, station_id) pair appears more than once")
    if problems:
        raise InputError(
            "行程时间表与编号不一致 (the walk-time table does not match the ids): "
            + "; ".join(problems)
        )
    shape = (len(rows_index), len(cols_index))
    data = long_table["walk_min"].to_numpy(dtype=np.float64)
    return sp.csr_matrix((data, (r, c)), shape=shape)
