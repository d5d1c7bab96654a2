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
    considered, so the result is exact. A compound's time is the best over its access points.

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
    without a station). ``""`` otherwise.
"""

from __future__ import annotations

import logging
import time
import warnings
import weakref
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from pandas.api.extensions import ExtensionArray
from scipy.sparse.csgraph import dijkstra

from coverage.config import DEFAULT_MAX_SNAP_M, Profile
from coverage.errors import CoverageWarning, InputError, Problem
from coverage.snap import (
    DEFAULT_ACCESS_POINTS,
    SnappedCompounds,
    _check_layer,
    _metric_xy,
    _snap_xy,
    _str_array,
    edge_index,
    snap_compounds,
)
from coverage.walknetwork import WalkNetwork

__all__ = [
    "TravelGraph",
    "nearest_station",
    "to_sparse",
    "travel_graph",
    "walk_times",
]

log = logging.getLogger(__name__)

_BATCH_MAX = 64
"""At most this many stations per limited Dijkstra batch."""

_BATCH_CELLS = 16_000_000
"""Target size of one batch's matrices (sources x (local nodes + access points)): 128 MB."""

_REASONS = pd.array(["", "unreachable", "far_from_network"], dtype="str")


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
    node_x, node_y
        Node coordinates in the network's metric CRS, in ``rank`` order.
    min_factor
        ``min(1, smallest factor used on any edge)``.
    stretch
        ``max(1, largest ratio of an edge's projected length to its length_m)``.
    """

    profile: Profile
    rank: np.ndarray
    csr: sp.csr_matrix
    edge_min_per_m: np.ndarray
    edge_length_m: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    min_factor: float
    stretch: float

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
        node_x=lay.node_x,
        node_y=lay.node_y,
        min_factor=float(min(1.0, factor.min() if len(factor) else 1.0)),
        stretch=lay.stretch,
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


def _entries(
    owner: np.ndarray,
    edge: np.ndarray,
    along_m: np.ndarray,
    access_m: np.ndarray,
    network: WalkNetwork,
    graph: TravelGraph,
) -> _Entries:
    """Snapped points (edge, along, access leg) as entries with the profile's minutes."""
    index = edge_index(network)
    mpm = graph.edge_min_per_m[edge]
    return _Entries(
        owner=owner,
        edge=edge,
        u=graph.rank[index.u[edge]],
        v=graph.rank[index.v[edge]],
        along_m=along_m,
        leg_min=access_m / graph.profile.speed_m_per_min,
        to_u_min=along_m * mpm,
        to_v_min=np.maximum(index.length_m[edge] - along_m, 0.0) * mpm,
    )


def _check_stations(stations: gpd.GeoDataFrame) -> ExtensionArray:
    """Raise on an empty layer or a bad one (see `_check_layer`); return the ids as "str"."""
    if len(stations) == 0:
        raise InputError(
            Problem(
                "stations",
                "站点图层为空 (the station layer is empty); give at least one station",
            )
        )
    _check_layer(
        stations,
        what="stations",
        id_column="station_id",
        header="stations: 站点图层有问题 (the station layer has problems)",
    )
    return _str_array(stations["station_id"])


@dataclass(frozen=True, eq=False)
class _Origins:
    """The compounds' snapped access points as entries of one TravelGraph (cached)."""

    aps: _Entries  # owner = compound position, ascending
    starts: np.ndarray  # first access point of every compound that has one
    comp: np.ndarray  # that compound
    single: bool  # no compound has more than one access point
    by_edge: np.ndarray  # access points sorted by edge (stable)
    edge_sorted: np.ndarray  # their edges


_ORIGINS: weakref.WeakKeyDictionary[
    TravelGraph, weakref.WeakKeyDictionary[SnappedCompounds, _Origins]
] = weakref.WeakKeyDictionary()


def _origin_entries(
    origins: SnappedCompounds, network: WalkNetwork, graph: TravelGraph
) -> _Origins:
    """Access points as entries of ``graph``: made once per (snapped compounds, graph).

    The arrays of a :class:`SnappedCompounds` are read-only, so the cache cannot go stale.
    """
    per_graph = _ORIGINS.get(graph)
    if per_graph is None:
        per_graph = _ORIGINS.setdefault(graph, weakref.WeakKeyDictionary())
    cached = per_graph.get(origins)
    if cached is not None:
        return cached
    aps = _entries(origins.owner, origins.edge, origins.along_m, origins.access_m, network, graph)
    owner = aps.owner
    starts = (
        np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        if len(owner)
        else np.empty(0, dtype=np.int64)
    )
    made = _Origins(
        aps=aps,
        starts=starts,
        comp=owner[starts],
        single=len(starts) == len(owner),
        by_edge=(by_edge := np.argsort(aps.edge, kind="stable")),
        edge_sorted=aps.edge[by_edge],
    )
    per_graph[origins] = made
    return made


@dataclass(frozen=True)
class _Prepared:
    graph: TravelGraph
    origins: _Origins
    aps: _Entries  # snapped access points; owner = compound position
    compound_snapped: np.ndarray  # bool per compound: at least one access point snapped
    stations: _Entries  # snapped stations; owner = station position
    station_x: np.ndarray  # metric position of every snapped station
    station_y: np.ndarray
    compound_ids: ExtensionArray  # pandas "str" array, one per compound
    station_ids: ExtensionArray  # pandas "str" array, one per station of the layer


def _origins(
    compounds: gpd.GeoDataFrame | SnappedCompounds,
    network: WalkNetwork,
    *,
    max_snap_m: float,
    entrances: gpd.GeoDataFrame | None,
) -> SnappedCompounds:
    """The compounds' snapped access points: given, or snapped now."""
    if isinstance(compounds, SnappedCompounds):
        if entrances is not None:
            raise InputError(
                "小区已吸附，入口应在 snap_compounds 时给出 (the compounds are already "
                "snapped: give entrances to snap_compounds, not here)"
            )
        compounds.check_network(network)
        return compounds
    return snap_compounds(
        compounds,
        network,
        entrances=entrances,
        max_snap_m=max_snap_m,
        max_points=DEFAULT_ACCESS_POINTS,
    )


def _prepare(
    compounds: gpd.GeoDataFrame | SnappedCompounds,
    stations: gpd.GeoDataFrame,
    network: WalkNetwork,
    *,
    profile: Profile,
    max_snap_m: float,
    entrances: gpd.GeoDataFrame | None,
) -> _Prepared:
    """Check the stations, snap compounds (unless given snapped) and stations, build the graph."""
    station_ids = _check_stations(stations)
    origins = _origins(compounds, network, max_snap_m=max_snap_m, entrances=entrances)
    graph = travel_graph(network, profile=profile)
    prepared = _origin_entries(origins, network, graph)
    sx, sy = _metric_xy(stations, network.crs, "stations")
    snap = _snap_xy(sx, sy, edge_index(network), max_snap_m)
    ok = snap.edge >= 0
    st = _entries(
        np.flatnonzero(ok), snap.edge[ok], snap.along_m[ok], snap.access_m[ok], network, graph
    )
    far = ~ok
    if far.any():
        names = ", ".join(map(str, station_ids[far][:10])) + (" ..." if far.sum() > 10 else "")
        msg = (
            f"{int(far.sum())} 个站点距步行网络超过 {max_snap_m:g} 米，已排除 "
            f"({int(far.sum())} of {len(stations)} stations are farther than {max_snap_m:g} m "
            f"from any walkable way and were left out: {names}); "
            "snap_points(stations, network) lists them with reason 'far_from_network'"
        )
        warnings.warn(msg, CoverageWarning, stacklevel=3)
    return _Prepared(
        graph=graph,
        origins=prepared,
        aps=prepared.aps,
        compound_snapped=origins.snapped,
        stations=st,
        station_x=sx[ok],
        station_y=sy[ok],
        compound_ids=origins.compound_ids,
        station_ids=station_ids,
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


def _ap_time(dist: np.ndarray, to_side: np.ndarray, leg: np.ndarray) -> np.ndarray:
    # one formula for both functions, so the nearest times agree to the last bit
    return (dist + to_side) + leg


def _multi_source(graph: TravelGraph, st: _Entries) -> tuple[np.ndarray, np.ndarray]:
    """Minutes from the nearest station to every node, and that station's entry.

    The entry is negative for a node no station reaches (its time is ``inf``).
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
    )
    # every reached node's source is a virtual node (n + entry); scipy gives -9999 otherwise
    src -= n
    return dist, src


def _nearest(prep: _Prepared, n_comp: int) -> tuple[np.ndarray, np.ndarray]:
    """Best minutes and nearest station (position in the layer) of every compound.

    ``inf`` and -1 for a compound no station reaches. Vectorised: the best of the two ends
    (and of any station on the same edge) per access point, then the best access point per
    compound with ``minimum.reduceat`` over the access points, which are in compound order
    (skipped when every compound has at most one).
    """
    org, aps, st = prep.origins, prep.aps, prep.stations
    best = np.full(n_comp, np.inf)
    best_station = np.full(n_comp, -1, dtype=np.int64)
    if len(st) == 0 or len(aps) == 0:
        return best, best_station
    dist, src = _multi_source(prep.graph, st)
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
    return best, best_station


# --------------------------------------------------------------------------------------------
# public


def nearest_station(
    compounds: gpd.GeoDataFrame | SnappedCompounds,
    stations: gpd.GeoDataFrame,
    network: WalkNetwork,
    *,
    profile: Profile,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    entrances: gpd.GeoDataFrame | None = None,
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

    Returns
    -------
    pandas.DataFrame
        One row per compound, in input order: ``compound_id``, ``nearest_station_id`` (str,
        missing when none), ``walk_min`` (float64, NaN when none), ``reason`` (``""``,
        ``"unreachable"`` or ``"far_from_network"``).

    Raises
    ------
    InputError
        When the station layer is empty, ids are missing or duplicated, or geometry is missing;
        when snapped compounds come with ``entrances`` or belong to another network.
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
    n_comp = len(prep.compound_ids)
    best, best_station = _nearest(prep, n_comp)
    found = np.isfinite(best)
    code = np.where(found, 0, np.where(prep.compound_snapped, 1, 2))
    best[~found] = np.nan
    out = pd.DataFrame(
        {
            "compound_id": prep.compound_ids,
            "nearest_station_id": prep.station_ids.take(best_station, allow_fill=True),
            "walk_min": best,
            "reason": _REASONS.take(code),
        }
    )
    if log.isEnabledFor(logging.INFO):
        counts = np.bincount(code, minlength=3)
        log.info(
            "nearest station for %d compounds from %d stations: %d reached, %d unreachable, "
            "%d far from network (%.2f s)",
            n_comp,
            len(prep.stations),
            int(counts[0]),
            int(counts[1]),
            int(counts[2]),
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
    total = int(counts.sum())
    offs = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    pos = np.repeat(starts, counts) + offs
    cols = loc[csr.indices[pos]]
    keep = cols >= 0
    rows = np.repeat(np.arange(len(idx)), counts)[keep]
    indptr = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(idx)), out=indptr[1:])
    itype = csr.indices.dtype
    return indptr.astype(itype), cols[keep].astype(itype), csr.data[pos[keep]]


def walk_times(
    compounds: gpd.GeoDataFrame | SnappedCompounds,
    stations: gpd.GeoDataFrame,
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
    graph, aps, st = prep.graph, prep.aps, prep.stations
    n = graph.n_nodes
    reach = graph.reach_m(limit_min)
    parts_a: list[np.ndarray] = []
    parts_s: list[np.ndarray] = []
    parts_t: list[np.ndarray] = []

    a_same, s_same, t_same = _same_edge(prep.origins, st)
    ok = t_same <= limit_min
    parts_a.append(a_same[ok])
    parts_s.append(s_same[ok])
    parts_t.append(t_same[ok])

    order = _spatial_order(prep.station_x, prep.station_y, 2.0 * reach)
    loc = np.full(n, -1, dtype=np.int64)
    nx_, ny_ = graph.node_x, graph.node_y
    csr = graph.csr
    start = 0
    n_batches = 0
    while len(aps) and start < len(order):
        size = min(batch_size or _BATCH_MAX, len(order) - start)
        while True:
            batch = order[start : start + size]
            bx, by = prep.station_x[batch], prep.station_y[batch]
            mask = (
                (nx_ >= bx.min() - reach)
                & (nx_ <= bx.max() + reach)
                & (ny_ >= by.min() - reach)
                & (ny_ <= by.max() + reach)
            )
            idx = np.flatnonzero(mask)
            # distance matrix (size x local nodes) and access-point time matrices
            cells = size * (len(idx) + int(mask[aps.u].sum()) + int(mask[aps.v].sum()))
            if batch_size is not None or size == 1 or cells <= _BATCH_CELLS:
                break
            size = max(1, size // 2)
        start += size
        n_batches += 1
        loc[idx] = np.arange(len(idx))
        indptr, indices, data = _subgraph(csr, idx, loc)
        sub = _with_sources(
            indptr,
            indices,
            data,
            len(idx),
            loc[st.u[batch]],
            loc[st.v[batch]],
            st.leg_min[batch] + st.to_u_min[batch],
            st.leg_min[batch] + st.to_v_min[batch],
        )
        dist = dijkstra(
            sub, directed=True, indices=len(idx) + np.arange(len(batch)), limit=limit_min
        )
        for side, to_side in ((aps.u, aps.to_u_min), (aps.v, aps.to_v_min)):
            lside = loc[side]
            sel = np.flatnonzero(lside >= 0)
            if len(sel) == 0:
                continue
            times = _ap_time(dist[:, lside[sel]], to_side[sel], aps.leg_min[sel])
            r, c = np.nonzero(times <= limit_min)
            parts_a.append(sel[c])
            parts_s.append(batch[r])
            parts_t.append(times[r, c])
        loc[idx] = -1

    a = np.concatenate(parts_a)
    s = np.concatenate(parts_s)
    t = np.concatenate(parts_t)
    comp = aps.owner[a]
    stn = st.owner[s]
    # best per (compound, station) pair
    n_st = len(stations)
    key = comp * n_st + stn
    order = np.lexsort((t, key))
    key, t, comp, stn = key[order], t[order], comp[order], stn[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=bool)
    comp, stn, t = comp[first], stn[first], t[first]
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
        len(st),
        n_batches,
        time.perf_counter() - t0,
    )
    return out


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
