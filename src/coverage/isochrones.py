"""Walk-time circles: honest 5/10/15-minute service-area polygons from the walk network.

A circle is the **street set** reachable within ``T`` minutes, widened by a frontage width (the
buildings along a street are reached by it), with small holes (courtyards) filled. No hull of
nodes: a river, a railway or a walled campus stays outside unless a street crosses it.

How the street set is found
    The walk-time field on the network comes from the same machinery as the analysis: one
    :func:`coverage.travel.travel_graph` per profile, stations snapped as in
    :mod:`coverage.travel` (a station enters its edge at both ends with partial lengths plus
    its access leg), Dijkstra on the CSR in minutes. Along an edge of length ``L`` (``length_m``
    units, walked at ``r`` minutes per metre) every *source* gives a V-shaped time: the ``u``
    end ``d_u + x r``, the ``v`` end ``d_v + (L - x) r`` and a station snapped onto the edge at
    ``s`` with access leg ``l``: ``l + |x - s| r`` (its own edge is reached from inside). The
    edge is split among its sources by their lower envelope (pairwise breakpoints, vectorised
    over all edges at once), each source's part is cut where its time reaches ``T``, and the
    pieces are cut from the edge's own geometry (vectorised interpolation on the projected
    vertex arrays, no loop per edge). With one field per station this gives the ``overlap``
    circles; with the stations' common (nearest-station) field it gives ``dissolve`` and, the
    envelope's source being the nearest station, the ``split`` catchments.

How the polygons are made
    Pieces are buffered by ``frontage_m`` one by one (shapely 2 arrays), then unioned per
    (circle, grid cell) with ``shapely.union_all`` over a padded 2-D array (one call for all
    cells), then per circle: the union of many small buffers never runs as one huge overlay.
    Holes smaller than ``fill_holes_m2`` are filled. ``rings`` are the differences of
    consecutive disks, so they stack to the disks exactly.

Numbers on the polygons
    ``compounds`` and ``households`` come from the per-compound walk times of
    :func:`coverage.travel.nearest_station` / :func:`coverage.travel.walk_times` (never from
    overlaying polygons on compounds), so the map and the tables agree: a dissolved circle
    carries exactly the covered households of ``summary.json``.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pandas.api.extensions import ExtensionArray

from coverage.config import (
    DEFAULT_FILL_HOLES_M2,
    DEFAULT_FRONTAGE_M,
    DEFAULT_MAX_SNAP_M,
    DEFAULT_MINUTES,
    MAX_FRONTAGE_M,
    Profile,
    Study,
)
from coverage.errors import InputError, Problem
from coverage.netarrays import EdgeIndex
from coverage.snap import SnappedPoints, edge_index, snap_layer
from coverage.travel import (
    TravelGraph,
    nearest_station,
    node_times,
    node_times_by_source,
    travel_graph,
    walk_times,
)
from coverage.walknetwork import WalkNetwork

__all__ = [
    "BLOCK_M",
    "CELL_M",
    "DEFAULT_FILL_HOLES_M2",
    "DEFAULT_FRONTAGE_M",
    "MAX_FRONTAGE_M",
    "MODES",
    "check_options",
    "circles_from_pieces",
    "isochrones",
    "service_areas",
    "share_blocks",
    "street_pieces",
    "study_circles",
]

log = logging.getLogger(__name__)

MODES = ("overlap", "dissolve", "split")
"""``overlap``: one polygon per station and threshold; ``dissolve``: one per threshold (the
service type); ``split``: each piece of street goes to its nearest station."""

CELL_M = 600.0
"""Grid cell (metres) of the partitioned union."""

BLOCK_M = 150.0
"""Grid block (metres) of shared street sets: a block a circle reaches whole is widened once."""

_QUAD_SEGS = 2  # buffer arcs: 2 segments per quarter circle (at most 3.8 m inside a 50 m one)
_UNION_SLOTS = 2_000_000  # at most this many geometries per padded union_all call
_EPS = 1e-9
_THREADS = max(1, min(4, os.cpu_count() or 1))
_PARALLEL_MIN = 2000  # geometries: below this, one thread


def _in_threads(
    func: Callable[..., np.ndarray],
    *arrays: np.ndarray,
    min_rows: int = _PARALLEL_MIN,
    **kw: object,
) -> np.ndarray:
    """Apply a shapely array function on several threads (shapely frees the GIL).

    The rows are dealt out in turn (thread ``i`` gets rows ``i``, ``i + T``, ...), so rows
    sorted by size give every thread the same share of the work.
    """
    n = len(arrays[0])
    threads = min(_THREADS, n)
    if threads <= 1 or n < min_rows:
        return func(*arrays, **kw)
    with ThreadPoolExecutor(threads) as pool:
        parts = list(
            pool.map(lambda i: func(*(a[i::threads] for a in arrays), **kw), range(threads))
        )
    out = np.empty((n, *parts[0].shape[1:]), dtype=parts[0].dtype)
    for i, part in enumerate(parts):
        out[i::threads] = part
    return out


Mode = Literal["overlap", "dissolve", "split"]


# --------------------------------------------------------------------------------------------
# checks


def check_options(
    *, minutes: Sequence[float], mode: str, frontage_m: float, fill_holes_m2: float
) -> tuple[float, ...]:
    """Check the circle options; return the thresholds as floats.

    Parameters
    ----------
    minutes
        Thresholds, positive and strictly increasing.
    mode
        One of :data:`MODES`.
    frontage_m
        Frontage width in metres, ``0 < frontage_m <= MAX_FRONTAGE_M``.
    fill_holes_m2
        Hole area below which holes are filled, ``>= 0``.

    Returns
    -------
    tuple of float

    Raises
    ------
    InputError
        Naming every bad option (``minutes``, ``mode``, ``frontage_m``, ``fill_holes_m2``).

    Examples
    --------
    >>> check_options(minutes=[5, 10], mode="dissolve", frontage_m=50, fill_holes_m2=0)
    (5.0, 10.0)
    """
    problems: list[Problem] = []
    try:
        mins = tuple(float(t) for t in minutes)
    except (TypeError, ValueError):
        mins = ()
        problems.append(
            Problem("isochrones", f"阈值必须是数字 (not numbers): {minutes!r}", key="minutes")
        )
    if not problems and (
        not mins
        or not all(math.isfinite(t) and t > 0 for t in mins)
        or any(b <= a for a, b in itertools.pairwise(mins))
    ):
        problems.append(
            Problem(
                "isochrones",
                f"阈值必须为正数且严格递增 (thresholds must be positive and strictly "
                f"increasing), got {list(minutes)!r}",
                key="minutes",
            )
        )
    if mode not in MODES:
        problems.append(
            Problem("isochrones", f"expected one of {', '.join(MODES)}, got {mode!r}", key="mode")
        )
    if not (isinstance(frontage_m, int | float) and 0 < frontage_m <= MAX_FRONTAGE_M):
        problems.append(
            Problem(
                "isochrones",
                f"临街宽度须大于 0 且不超过 {MAX_FRONTAGE_M:g} 米 (the frontage width must be "
                f"> 0 and <= {MAX_FRONTAGE_M:g} m), got {frontage_m!r}",
                key="frontage_m",
            )
        )
    if not (isinstance(fill_holes_m2, int | float) and fill_holes_m2 >= 0):
        problems.append(
            Problem(
                "isochrones",
                f"填补空洞面积须 >= 0 (fill_holes_m2 must be >= 0), got {fill_holes_m2!r}",
                key="fill_holes_m2",
            )
        )
    if problems:
        raise InputError(problems, header="等时圈参数有问题 (bad isochrone options):")
    return mins


# --------------------------------------------------------------------------------------------
# the walk-time field (node level)


def _snap_stations(
    stations: gpd.GeoDataFrame | SnappedPoints, network: WalkNetwork, max_snap_m: float
) -> SnappedPoints:
    """The stations snapped once (:func:`coverage.snap.snap_layer`), or as given."""
    if isinstance(stations, SnappedPoints):
        stations.check_network(network)
        return stations
    if len(stations) == 0:
        raise InputError(
            Problem("stations", "站点图层为空 (the station layer is empty); give at least one")
        )
    return snap_layer(stations, network, id_column="station_id", max_snap_m=max_snap_m)


# --------------------------------------------------------------------------------------------
# street pieces


@dataclass(frozen=True)
class _Sources:
    """V-shaped time functions along edges, one row per (field, edge, source)."""

    field: np.ndarray  # which walk-time field (station entry for overlap, 0 otherwise)
    edge: np.ndarray
    pos: np.ndarray  # position along the edge (length_m units)
    base: np.ndarray  # minutes at pos
    label: np.ndarray  # station entry the time comes from


def _incidence(index: EdgeIndex, n_nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node index -> incident edge ends: indptr, edge, is_v_end."""
    m = len(index.u)
    ends = np.concatenate([index.u, index.v])
    edge = np.concatenate([np.arange(m), np.arange(m)])
    is_v = np.concatenate([np.zeros(m, bool), np.ones(m, bool)])
    order = np.argsort(ends, kind="stable")
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(ends, minlength=n_nodes), out=indptr[1:])
    return indptr, edge[order], is_v[order]


def _node_sources(
    field: np.ndarray,
    node: np.ndarray,
    minutes: np.ndarray,
    label: np.ndarray,
    index: EdgeIndex,
    n_nodes: int,
) -> _Sources:
    """Every reached node (network node index) becomes a source on each edge it ends."""
    indptr, inc_edge, inc_v = _incidence(index, n_nodes)
    counts = indptr[node + 1] - indptr[node]
    offs = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    pos_inc = np.repeat(indptr[node], counts) + offs
    edge = inc_edge[pos_inc]
    return _Sources(
        field=np.repeat(field, counts),
        edge=edge,
        pos=np.where(inc_v[pos_inc], index.length_m[edge], 0.0),
        base=np.repeat(minutes, counts),
        label=np.repeat(label, counts),
    )


def _concat(parts: Sequence[_Sources]) -> _Sources:
    return _Sources(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in _Sources.__dataclass_fields__)
    )


def _envelope(src: _Sources, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort the sources by (field, edge) and return (order, lo, hi): each source's own part.

    On one edge every time function has the same slope ``rate``, so the part of the edge
    where source ``j`` is fastest is an interval: bounded below by every source to its left
    and above by every source to its right (pairwise breakpoints; ties go to the source
    listed first).
    """
    order = np.lexsort((src.pos, src.edge, src.field))
    f, e, p, b = src.field[order], src.edge[order], src.pos[order], src.base[order]
    k = len(order)
    new = np.r_[True, (f[1:] != f[:-1]) | (e[1:] != e[:-1])] if k else np.zeros(0, bool)
    starts = np.flatnonzero(new)
    counts = np.diff(np.r_[starts, k])
    size = np.repeat(counts, counts)  # group size of every row
    first = np.repeat(starts, counts)
    lo = np.full(k, -np.inf)
    hi = np.full(k, np.inf)
    # pairs (j, i) within a group, i != j: row j repeated size times
    j = np.repeat(np.arange(k), size)
    i = np.repeat(first, size) + (np.arange(len(j)) - np.repeat(np.cumsum(size) - size, size))
    keep = i != j
    j, i = j[keep], i[keep]
    r = rate[e[j]]
    dp = p[j] - p[i]
    db = b[j] - b[i]
    with np.errstate(invalid="ignore"):
        # i left of j (i listed first when positions tie): j's region starts at the breakpoint
        left = (dp > 0) | ((dp == 0) & (i < j))
        x_break = (db + (p[i] + p[j]) * r) / (2 * r)
        a_far = db + np.abs(dp) * r  # t_j - t_i far on i's side
        b_far = db - np.abs(dp) * r  # t_j - t_i far on j's side
        lower = np.where(a_far <= 0, -np.inf, np.where(b_far > 0, np.inf, x_break))
        lower = np.where((dp == 0) & (db == 0), np.where(left, np.inf, -np.inf), lower)
        x_break_r = (-db + (p[i] + p[j]) * r) / (2 * r)
        upper = np.where(a_far <= 0, np.inf, np.where(b_far > 0, -np.inf, x_break_r))
        upper = np.where((dp == 0) & (db == 0), np.where(left, -np.inf, np.inf), upper)
    is_left = left
    np.maximum.at(lo, j[is_left], lower[is_left])
    np.minimum.at(hi, j[~is_left], upper[~is_left])
    return order, lo, hi


@dataclass(frozen=True)
class Pieces:
    """Reached pieces of streets (one row per piece; positions in ``length_m`` units)."""

    group: np.ndarray  # polygon group: station entry (overlap/split) or 0 (dissolve)
    minutes_i: np.ndarray  # threshold position
    edge: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    def identity(self) -> np.ndarray:
        """One integer per distinct (group, edge, lo, hi): the same piece in two thresholds."""
        shape = self.shapes()
        return self.group.astype(np.int64) * (int(shape.max(initial=0)) + 1) + shape

    def shapes(self) -> np.ndarray:
        """One integer per distinct (edge, lo, hi): the same piece of street in any group."""
        frame = pd.DataFrame({"e": self.edge, "lo": self.lo, "hi": self.hi})
        return frame.groupby(["e", "lo", "hi"], sort=False).ngroup().to_numpy()


def _pieces(
    src: _Sources, rate: np.ndarray, length: np.ndarray, minutes: Sequence[float], by_label: bool
) -> Pieces:
    """Cut every source's part of its edge where its time reaches each threshold; merge."""
    order, lo, hi = _envelope(src, rate)
    e, p, b = src.edge[order], src.pos[order], src.base[order]
    grp = (src.label if by_label else src.field)[order]
    r = rate[e]
    lo = np.maximum(lo, 0.0)
    hi = np.minimum(hi, length[e])
    out: list[tuple[np.ndarray, ...]] = []
    for ti, t in enumerate(minutes):
        half = (t - b) / r
        a = np.maximum(lo, p - half)
        z = np.minimum(hi, p + half)
        ok = (half >= 0) & (z > a + _EPS)
        out.append((grp[ok], np.full(int(ok.sum()), ti), e[ok], a[ok], z[ok]))
    g, ti_, e2, a2, z2 = (np.concatenate(c) for c in zip(*out, strict=True))
    # merge touching pieces of one (group, threshold, edge)
    order2 = np.lexsort((a2, e2, ti_, g))
    g, ti_, e2, a2, z2 = g[order2], ti_[order2], e2[order2], a2[order2], z2[order2]
    n = len(e2)
    if n:
        same = (g[1:] == g[:-1]) & (ti_[1:] == ti_[:-1]) & (e2[1:] == e2[:-1])
        # pieces of one key are disjoint and sorted, so the previous piece's end decides
        cont = np.r_[False, same & (a2[1:] <= z2[:-1] + 1e-6)]
        starts = np.flatnonzero(~cont)
        run_hi = np.maximum.reduceat(z2, starts)
        g, ti_, e2, a2, z2 = g[starts], ti_[starts], e2[starts], a2[starts], run_hi
        # ends within rounding of an edge's end are that end: whole edges compare equal
        a2 = np.where(a2 <= 1e-6, 0.0, a2)
        z2 = np.where(z2 >= length[e2] - 1e-6, length[e2], z2)
    return Pieces(g, ti_, e2, a2, z2)


def _vertex_offsets(index: EdgeIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per vertex: distance from its edge's start; per edge: projected length and key base."""
    coords, first = index.coords, index.first
    d = np.hypot(*(coords[1:] - coords[:-1]).T) if len(coords) else np.zeros(0)
    step = np.r_[0.0, d]
    step[first[:-1][np.diff(first) > 0]] = 0.0  # each edge starts at 0
    cum = np.cumsum(step)
    start_cum = np.repeat(cum[first[:-1]], np.diff(first))
    vcum = cum - start_cum
    counts = np.diff(first)
    plen = np.where(counts > 0, vcum[np.maximum(first[1:] - 1, 0)], 0.0)
    base = np.r_[0.0, np.cumsum(plen + 1.0)][:-1]
    return vcum, plen, base


def _cut(index: EdgeIndex, edge: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """LineStrings of edges between ``lo`` and ``hi`` (length_m units), in the metric CRS.

    Vectorised: the vertices strictly inside each piece plus its two interpolated ends.
    """
    vcum, plen, base = _vertex_offsets(index)
    gkey = vcum + np.repeat(base, np.diff(index.first))
    scale = plen[edge] / index.length_m[edge]
    a = np.clip(lo * scale, 0.0, plen[edge])
    z = np.clip(hi * scale, 0.0, plen[edge])
    f0, f1 = index.first[edge], index.first[edge + 1] - 1
    i0 = np.clip(np.searchsorted(gkey, base[edge] + a, side="right"), f0 + 1, f1)
    i1 = np.clip(np.searchsorted(gkey, base[edge] + z, side="left"), f0 + 1, f1)
    coords = index.coords

    def at(k: np.ndarray, s: np.ndarray) -> np.ndarray:  # point at s on segment k-1 .. k
        seg = vcum[k] - vcum[k - 1]
        w = np.where(seg > 0, (s - vcum[k - 1]) / np.where(seg > 0, seg, 1.0), 0.0)
        w = np.clip(w, 0.0, 1.0)[:, None]
        return coords[k - 1] + w * (coords[k] - coords[k - 1])

    p0, p1 = at(i0, a), at(i1, z)
    inner = np.maximum(i1 - i0, 0)
    n_pts = inner + 2
    total = int(n_pts.sum())
    owner = np.repeat(np.arange(len(edge)), n_pts)
    k = np.arange(total) - np.repeat(np.cumsum(n_pts) - n_pts, n_pts)
    out = np.empty((total, 2))
    is_first = k == 0
    is_last = k == n_pts[owner] - 1
    mid = ~(is_first | is_last)
    out[is_first] = p0
    out[is_last] = p1
    out[mid] = coords[i0[owner[mid]] + k[mid] - 1]
    return shapely.linestrings(out, indices=owner)


def street_pieces(
    network: WalkNetwork,
    stations: gpd.GeoDataFrame | SnappedPoints,
    *,
    profile: Profile,
    minutes: Sequence[float] = DEFAULT_MINUTES,
    mode: Mode = "overlap",
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> gpd.GeoDataFrame:
    """The reached pieces of street: what the circles are made of (before widening).

    Parameters
    ----------
    network
        The walk network.
    stations
        Station layer (``station_id``, Point geometry, any CRS).
    profile
        Travel profile.
    minutes
        Thresholds, strictly increasing.
    mode
        ``overlap`` (pieces per station), ``dissolve`` (reached from any station) or ``split``
        (each piece labelled with its nearest station).
    max_snap_m
        Stations farther than this from every walkable edge are left out.

    Returns
    -------
    geopandas.GeoDataFrame
        ``station_id`` (missing in ``dissolve``), ``minutes``, ``edge``, ``from_m``,
        ``to_m`` (along the edge from ``u``, ``length_m`` units), LineString geometry in
        WGS-84.
    """
    mins = check_options(minutes=minutes, mode=mode, frontage_m=1.0, fill_holes_m2=0.0)
    graph = travel_graph(network, profile=profile)
    snapped = _snap_stations(stations, network, max_snap_m)
    pieces = _street_pieces(network, graph, snapped, mins, mode)
    geoms = _cut(edge_index(network), pieces.edge, pieces.lo, pieces.hi)
    sid = snapped.ids.take(pieces.group) if mode != "dissolve" else None
    out = gpd.GeoDataFrame(
        {
            "station_id": sid if sid is not None else pd.array([None] * len(pieces), "str"),
            "minutes": np.asarray(mins)[pieces.minutes_i],
            "edge": pieces.edge,
            "from_m": pieces.lo,
            "to_m": pieces.hi,
        },
        geometry=geoms,
        crs=network.crs,
    )
    return out.to_crs(4326)


def _street_pieces(
    network: WalkNetwork,
    graph: TravelGraph,
    stations: SnappedPoints,
    mins: Sequence[float],
    mode: str,
) -> Pieces:
    """Reached pieces; ``group`` is the station's position in the layer (0 in dissolve)."""
    index = edge_index(network)
    tmax = max(mins)
    owner = stations.owner
    if len(owner) == 0:
        empty = np.empty(0, np.int64)
        return Pieces(empty, empty, empty, np.empty(0), np.empty(0))
    station_src = _Sources(
        field=owner if mode == "overlap" else np.zeros(len(owner), np.int64),
        edge=stations.edge,
        pos=stations.along_m,
        base=stations.access_m / graph.profile.speed_m_per_min,
        label=owner,
    )
    n = len(network.nodes)
    if mode == "overlap":
        long = node_times_by_source(graph, stations, limit_min=tmax)
        src = long["source"].to_numpy()
        nodes = _node_sources(
            src, long["node"].to_numpy(), long["walk_min"].to_numpy(), src, index, n
        )
    else:
        field = node_times(graph, stations, limit_min=tmax)
        node = np.flatnonzero(field.minutes <= tmax)
        nodes = _node_sources(
            np.zeros(len(node), np.int64), node, field.minutes[node], field.source[node], index, n
        )
    sources = _concat([nodes, station_src])
    return _pieces(
        sources,
        graph.edge_min_per_m,
        index.length_m,
        mins,
        by_label=mode != "dissolve",
    )


# --------------------------------------------------------------------------------------------
# polygons


def _union_groups(geoms: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union the geometries of every key: padded 2-D ``union_all(axis=1)`` calls."""
    if len(geoms) == 0:
        return np.empty(0, key.dtype), np.empty(0, dtype=object)
    order = np.argsort(key, kind="stable")
    k = key[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    counts = np.diff(np.r_[starts, len(k)])
    result = np.empty(len(starts), dtype=object)
    # groups of similar size together, so the padding stays small
    by_size = np.argsort(counts, kind="stable")
    lo = 0
    while lo < len(by_size):
        hi = lo + 1
        while hi < len(by_size) and (hi + 1 - lo) * int(counts[by_size[hi]]) <= _UNION_SLOTS:
            hi += 1
        rows = by_size[lo:hi]
        rc = counts[rows]
        grid = np.full((len(rows), int(rc.max())), None, dtype=object)
        r_idx = np.repeat(np.arange(len(rows)), rc)
        c_idx = np.arange(int(rc.sum())) - np.repeat(np.cumsum(rc) - rc, rc)
        grid[r_idx, c_idx] = geoms[order[np.repeat(starts[rows], rc) + c_idx]]
        result[rows] = _in_threads(shapely.union_all, grid, axis=1, min_rows=2)
        lo = hi
    return k[starts], result


def _holes_to_fill(
    rings: np.ndarray, part: np.ndarray, max_area: float, streets: shapely.STRtree | None
) -> np.ndarray:
    """Which rings (exterior first per part) are holes to fill: small, crossed by no street."""
    is_shell = np.r_[True, part[1:] != part[:-1]] if len(part) else np.zeros(0, bool)
    holes = shapely.polygons(rings)
    fill = ~is_shell & (shapely.area(holes) < max_area)
    if streets is not None and fill.any():
        cand = np.flatnonzero(fill)
        hit, _ = streets.query(holes[cand], predicate="intersects")
        fill[cand[np.unique(hit)]] = False
    return fill


def _fill_holes(
    geoms: np.ndarray, max_area: float, streets: shapely.STRtree | None = None
) -> np.ndarray:
    """Drop the interior rings smaller than ``max_area`` and crossed by no street (vectorised).

    A hole with a street in it is a block whose streets were not reached: it stays.
    """
    if max_area <= 0 or len(geoms) == 0:
        return geoms
    parts, owner = shapely.get_parts(geoms, return_index=True)
    rings, part = shapely.get_rings(parts, return_index=True)
    keep = ~_holes_to_fill(rings, part, max_area, streets)
    polys = shapely.polygons(rings[keep], indices=part[keep])
    multi = shapely.multipolygons(polys, indices=owner)
    out = np.full(len(geoms), None, dtype=object)
    out[: len(multi)] = multi
    out[shapely.is_empty(out)] = None
    single = shapely.get_num_geometries(out) == 1
    out[single] = shapely.get_geometry(out[single], 0)
    return out


def _share_holes(geoms: np.ndarray, max_area: float, streets: shapely.STRtree | None) -> np.ndarray:
    """Give the small holes of the union of ``geoms`` to every polygon that touches them.

    Split catchments meet inside some courtyards: each polygon alone has no hole there, but
    their union has; it goes to each catchment around it, so the union of the catchments
    equals the dissolved circle.
    """
    present = np.flatnonzero(~shapely.is_missing(geoms))
    if max_area <= 0 or len(present) < 2:
        return geoms
    union = shapely.union_all(geoms[present])
    parts = shapely.get_parts(union)
    rings, part = shapely.get_rings(parts, return_index=True)
    holes = shapely.polygons(rings[_holes_to_fill(rings, part, max_area, streets)])
    if len(holes) == 0:
        return geoms
    hole_i, poly_i = shapely.STRtree(geoms[present]).query(holes, predicate="intersects")
    if len(hole_i) == 0:
        return geoms
    owners = present[poly_i]
    merged_keys, merged = _union_groups(
        np.concatenate([geoms[np.unique(owners)], holes[hole_i]]),
        np.concatenate([np.unique(owners), owners]),
    )
    out = geoms.copy()
    out[merged_keys] = _fill_holes(merged, max_area, streets)
    return out


def share_blocks(
    index: EdgeIndex,
    pieces: Pieces,
    *,
    n_stages: int,
    frontage_m: float,
    block_m: float | None = BLOCK_M,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pieces' distinct shapes, with every block of streets reached whole shared.

    The network is cut into square blocks of ``block_m`` (an edge belongs to the block of its
    end points' midpoint). Where a (group, stage) reaches every edge of a block whole, its
    pieces there are replaced by one shared piece: the union of the block's widened edges,
    made once for all the circles that reach the block whole. The union of the pieces is the
    same set; the overlay work of the many circles that cross one neighbourhood is done once.

    Parameters
    ----------
    index
        The network's edge index.
    pieces
        The reached pieces of street.
    n_stages
        Number of thresholds.
    frontage_m
        Buffer width.
    block_m
        Block side in metres; ``None``: no sharing (circles that do not overlap, as in
        ``dissolve`` and ``split``, have nothing to share).

    Returns
    -------
    (shapes, group, stage, shape)
        ``shapes``: every distinct piece cut from its edge (LineString, metric CRS), then the
        shared blocks (widened, Polygon); per piece after sharing, its group, stage and
        position in ``shapes``.
    """
    shape = pieces.shapes()
    _, rep = np.unique(shape, return_index=True)
    # each distinct piece of street cut once (many stations reach the same whole street)
    lines = _cut(index, pieces.edge[rep], pieces.lo[rep], pieces.hi[rep])
    n_edges = len(index.u)
    if len(pieces) == 0 or n_edges == 0 or block_m is None:
        return lines, pieces.group, pieces.minutes_i, shape
    mid = (index.coords[index.first[:-1]] + index.coords[index.first[1:] - 1]) / 2
    cells = np.floor((mid - mid.min(axis=0)) / block_m).astype(np.int64)
    _, block = np.unique(
        cells[:, 0] * (int(cells[:, 1].max()) + 1) + cells[:, 1], return_inverse=True
    )
    block = block.reshape(-1)
    n_blocks = int(block.max()) + 1
    size = np.bincount(block, minlength=n_blocks)
    whole = (pieces.lo <= 0.0) & (pieces.hi >= index.length_m[pieces.edge])
    key = (pieces.group.astype(np.int64) * n_stages + pieces.minutes_i) * n_blocks
    key += block[pieces.edge]
    keys, count = np.unique(key[whole], return_counts=True)
    b = keys % n_blocks
    full = keys[(count == size[b]) & (size[b] >= 2)]
    if len(full) == 0:
        return lines, pieces.group, pieces.minutes_i, shape
    used = np.unique(full % n_blocks)
    edges = np.flatnonzero(np.isin(block, used))
    widened = _in_threads(
        shapely.buffer,
        _cut(index, edges, np.zeros(len(edges)), index.length_m[edges]),
        distance=frontage_m,
        quad_segs=_QUAD_SEGS,
    )
    _, blocks = _union_groups(widened, block[edges])  # in the order of ``used``
    keep = ~(whole & np.isin(key, full))
    gs = full // n_blocks
    return (
        np.concatenate([lines, blocks]),
        np.concatenate([pieces.group[keep], gs // n_stages]),
        np.concatenate([pieces.minutes_i[keep], gs % n_stages]),
        np.concatenate([shape[keep], len(lines) + np.searchsorted(used, full % n_blocks)]),
    )


def circles_from_pieces(
    lines: np.ndarray,
    group: np.ndarray,
    *,
    frontage_m: float,
    fill_holes_m2: float,
    stage: np.ndarray | None = None,
    n_stages: int | None = None,
    identity: np.ndarray | None = None,
    shape: np.ndarray | None = None,
    streets: shapely.STRtree | None = None,
    cell_m: float = CELL_M,
) -> tuple[np.ndarray, np.ndarray]:
    """Widen street pieces by the frontage and union them per (group, stage), grid-partitioned.

    Stages are growing thresholds: the pieces of a stage cover those of the previous one.
    A grid cell whose pieces did not change keeps its union; a changed cell is the union of
    its previous polygon and the new pieces' buffers only. The cells of a group are then
    unioned (only where a cell changed).

    Parameters
    ----------
    lines
        LineStrings in a metric CRS; a (Multi)Polygon is taken as already widened (a block of
        streets unioned once and shared, see :func:`share_blocks`).
    group
        Non-negative integer group of every line.
    frontage_m
        Buffer width.
    fill_holes_m2
        Holes smaller than this are filled.
    stage
        Threshold position of every line (default all 0); a group's area must grow with it.
    n_stages
        Number of stages (default: the largest stage + 1).
    identity
        Equal values mark the same piece in two stages (default: all pieces distinct).
    shape
        Equal values mark pieces with the same geometry, in any group or stage: each is
        widened once, its buffer shared (default: all pieces distinct).
    streets
        Spatial index of every street (same CRS): a hole a street crosses is not filled.
    cell_m
        Grid cell of the partitioned union.

    Returns
    -------
    (keys, polygons)
        ``group * n_stages + stage`` of every (group, stage) with pieces (ascending) and one
        (Multi)Polygon each.
    """
    if len(lines) == 0:
        return np.empty(0, np.int64), np.empty(0, dtype=object)
    stage = np.zeros(len(lines), np.int64) if stage is None else stage.astype(np.int64)
    identity = np.arange(len(lines)) if identity is None else identity
    n_stages = int(stage.max()) + 1 if n_stages is None else n_stages
    if shape is None:
        shape = np.arange(len(lines))
    # one buffer per distinct shape (a street reached whole by many stations is widened once)
    _, rep, shape = np.unique(shape, return_index=True, return_inverse=True)
    shape = shape.reshape(-1)
    box = shapely.bounds(lines[rep])[shape]
    widened = np.full(len(rep), None, dtype=object)
    done = np.zeros(len(rep), bool)
    mx, my = (box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2
    cx = np.floor((mx - mx.min()) / cell_m).astype(np.int64)
    cy = np.floor((my - my.min()) / cell_m).astype(np.int64)
    ny = int(cy.max()) + 1
    nc = (int(cx.max()) + 1) * ny
    cell_key = group.astype(np.int64) * nc + cx * ny + cy

    out_keys: list[np.ndarray] = []
    out_polys: list[np.ndarray] = []
    prev_cells, prev_cell_polys = np.empty(0, np.int64), np.empty(0, dtype=object)
    prev_groups, prev_group_polys = np.empty(0, np.int64), np.empty(0, dtype=object)
    for s in range(n_stages):
        sel = np.flatnonzero(stage == s)
        new = sel
        if s > 0:
            new = sel[~np.isin(identity[sel], identity[stage == s - 1])]
        todo = np.unique(shape[new])
        todo = todo[~done[todo]]
        ready = shapely.get_dimensions(lines[rep[todo]]) == 2  # already widened
        widened[todo[ready]] = lines[rep[todo[ready]]]
        widened[todo[~ready]] = _in_threads(
            shapely.buffer, lines[rep[todo[~ready]]], distance=frontage_m, quad_segs=_QUAD_SEGS
        )
        done[todo] = True
        buffers = widened[shape[new]]
        changed = np.unique(cell_key[new])
        at = np.minimum(np.searchsorted(prev_cells, changed), max(len(prev_cells) - 1, 0))
        had = (prev_cells[at] == changed) if len(prev_cells) else np.zeros(len(changed), bool)
        keys, polys = _union_groups(
            np.concatenate([prev_cell_polys[at[had]], buffers]),
            np.concatenate([changed[had], cell_key[new]]),
        )
        cells = np.unique(cell_key[sel])
        kept = cells[~np.isin(cells, changed)]
        kept_polys = prev_cell_polys[np.searchsorted(prev_cells, kept)]
        order = np.argsort(np.concatenate([keys, kept]), kind="stable")
        prev_cells = np.concatenate([keys, kept])[order]
        prev_cell_polys = np.concatenate([polys, kept_polys])[order]
        # groups: union of their cells where a cell changed, else the previous stage's
        groups = np.unique(group[sel].astype(np.int64))
        redo = np.isin(prev_cells // nc, np.unique(changed // nc))
        g_new, p_new = _union_groups(prev_cell_polys[redo], prev_cells[redo] // nc)
        same = groups[~np.isin(groups, g_new)]
        p_same = prev_group_polys[np.searchsorted(prev_groups, same)]
        order = np.argsort(np.concatenate([g_new, same]), kind="stable")
        prev_groups = np.concatenate([g_new, same])[order]
        prev_group_polys = np.concatenate([p_new, p_same])[order]
        out_keys.append(prev_groups * n_stages + s)
        out_polys.append(prev_group_polys)
    keys = np.concatenate(out_keys)
    polys = np.concatenate(out_polys)
    order = np.argsort(keys, kind="stable")
    return keys[order], _fill_holes(polys[order], fill_holes_m2, streets)


def _straight_circles(sp: SnappedPoints, radius: np.ndarray, mode: str) -> np.ndarray:
    """Straight-line circles of every radius: per station (overlap, split) or their union."""
    n_st = len(sp.ids)
    cx = np.full(n_st, np.nan)
    cy = np.full(n_st, np.nan)
    cx[sp.owner], cy[sp.owner] = sp.x, sp.y
    centres = np.full(n_st, None, dtype=object)
    centres[sp.snapped] = shapely.points(cx[sp.snapped], cy[sp.snapped])
    if mode == "dissolve":
        present = centres[sp.snapped]
        return np.array(
            [shapely.union_all(shapely.buffer(present, r, quad_segs=16)) for r in radius],
            dtype=object,
        )
    return np.asarray(
        shapely.buffer(np.repeat(centres, len(radius)), np.tile(radius, n_st), quad_segs=16),
        dtype=object,
    )


def _rings(disks: np.ndarray, grid_size: float | None = None) -> np.ndarray:
    """Bands between consecutive thresholds: each disk minus the previous one (rows)."""
    prev = np.concatenate([np.full((len(disks), 1), None, object), disks[:, :-1]], axis=1)
    has_prev = ~shapely.is_missing(prev)
    out = disks.copy()
    out[has_prev] = shapely.difference(disks[has_prev], prev[has_prev], grid_size=grid_size)
    return out


# --------------------------------------------------------------------------------------------
# the public function


def _counts(
    compounds: gpd.GeoDataFrame | None,
    snapped: SnappedPoints | None,
    stations: SnappedPoints,
    network: WalkNetwork,
    *,
    profile: Profile,
    mins: Sequence[float],
    mode: str,
    rings: bool,
    weight_column: str,
    max_snap_m: float,
    entrances: gpd.GeoDataFrame | None,
) -> pd.DataFrame | None:
    """Compounds and households per (station or None, threshold position) from walk times."""
    if compounds is None:
        return None
    if weight_column not in compounds.columns:
        raise InputError(
            Problem(
                "compounds",
                f"缺少权重列 (weight column missing): {weight_column}",
                column=weight_column,
            )
        )
    origins: gpd.GeoDataFrame | SnappedPoints = snapped if snapped is not None else compounds
    weight = compounds[weight_column].astype("float64").to_numpy()
    n_comp = len(compounds)
    bins = np.asarray(mins)
    if mode == "overlap":
        long = walk_times(
            origins,
            stations,
            network,
            profile=profile,
            limit_min=max(mins),
            max_snap_m=max_snap_m,
            entrances=entrances if snapped is None else None,
        )
        cpos = pd.Index(compounds["compound_id"].astype("str")).get_indexer(
            long["compound_id"].astype("str")
        )
        walk = long["walk_min"].to_numpy()
        station = long["station_id"].astype("str").to_numpy()
        hh = weight[cpos]
    else:
        near = nearest_station(
            origins,
            stations,
            network,
            profile=profile,
            max_snap_m=max_snap_m,
            entrances=entrances if snapped is None else None,
        )
        walk = near["walk_min"].to_numpy(dtype=np.float64)
        station = (
            near["nearest_station_id"].astype("str").to_numpy()
            if mode == "split"
            else np.full(n_comp, "", dtype=object)
        )
        hh = weight
    rows = []
    for ti, t in enumerate(mins):
        inside = walk <= t
        if rings and ti > 0:
            inside &= walk > bins[ti - 1]
        rows.append(
            pd.DataFrame(
                {
                    "station": station,
                    "ti": ti,
                    "covered": inside,
                    "households": np.where(inside, hh, 0.0),
                }
            )
        )
    long_all = pd.concat(rows, ignore_index=True)
    return long_all.groupby(["station", "ti"], dropna=False, sort=True).agg(
        compounds=("covered", "sum"), households=("households", "sum")
    )


def isochrones(
    network: WalkNetwork,
    stations: gpd.GeoDataFrame | SnappedPoints,
    *,
    profile: Profile,
    minutes: Sequence[float] = DEFAULT_MINUTES,
    mode: Mode = "overlap",
    rings: bool = False,
    frontage_m: float = DEFAULT_FRONTAGE_M,
    fill_holes_m2: float = DEFAULT_FILL_HOLES_M2,
    compounds: gpd.GeoDataFrame | None = None,
    snapped: SnappedPoints | None = None,
    entrances: gpd.GeoDataFrame | None = None,
    weight_column: str = "households",
    service: str | None = None,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    cell_m: float = CELL_M,
) -> gpd.GeoDataFrame:
    """Walk-time circles of the stations: reachable streets widened by their frontage.

    Parameters
    ----------
    network
        The walk network.
    stations
        Station layer (``station_id``, Point geometry, any CRS; must not be empty), or the
        stations already snapped (:func:`coverage.snap.snap_layer`).
    profile
        Travel profile (speed, factors by ``highway``), as in the analysis.
    minutes
        Thresholds in minutes, positive and strictly increasing.
    mode
        ``"overlap"`` (one polygon per station and threshold), ``"dissolve"`` (one per
        threshold) or ``"split"`` (each piece of street to its nearest station).
    rings
        Polygons between consecutive thresholds instead of from 0 to each threshold.
    frontage_m
        Width each side of a reached street counted as reached (``0 < w <= 500``).
    fill_holes_m2
        Holes smaller than this (m2) that no street crosses are filled (courtyards); 0 keeps
        every hole.
    compounds
        Optional compound layer (``compound_id``, the weight column): adds ``compounds`` and
        ``households`` reached according to the per-compound walk times.
    snapped
        The compounds already snapped (:func:`coverage.snap.snap_compounds`): reused.
    entrances
        OSM entrances used as compound gates (when ``snapped`` is not given).
    weight_column
        Compound column with the households.
    service
        Service key written on every row.
    max_snap_m
        Stations (and compounds) farther than this from the network are left out.
    cell_m
        Grid cell of the partitioned union (metres).

    Returns
    -------
    geopandas.GeoDataFrame
        WGS-84, one row per polygon: ``service``, ``station_id`` (missing when dissolved),
        ``minutes``, ``min_minutes`` (0, or the previous threshold for rings), ``profile``,
        ``area_km2``, ``circle_share`` (share of the straight-line circle(s) of radius
        ``minutes`` x speed covered), ``compounds`` and ``households`` (when compounds are
        given), ``reason`` (``""``, ``"far_from_network"``: no polygon, ``"unreachable"``:
        nothing reached within the threshold), ``geometry``.

    Raises
    ------
    InputError
        Bad options (naming the key), an empty or bad station layer.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd
    >>> from shapely import LineString, Point
    >>> from coverage.config import DEFAULT_PROFILES
    >>> nodes = pd.DataFrame({"node_id": [1, 2], "lon": [0.0, 0.01], "lat": [0.0, 0.0],
    ...                       "component": [0, 0]})
    >>> edges = gpd.GeoDataFrame({"u": [0], "v": [1], "length_m": [1113.0],
    ...     "highway": ["path"], "access": [None], "private": [False], "way_id": [7]},
    ...     geometry=[LineString([(0, 0), (0.01, 0)])], crs="EPSG:4326")
    >>> net = WalkNetwork(nodes, edges, "EPSG:32631")
    >>> st = gpd.GeoDataFrame({"station_id": ["s"]}, geometry=[Point(0, 0)], crs="EPSG:4326")
    >>> out = isochrones(net, st, profile=DEFAULT_PROFILES["adult"], minutes=[5])
    >>> round(float(out.loc[0, "area_km2"]), 3)  # 375 m of path widened by 50 m each side
    0.045
    """
    mins = check_options(
        minutes=minutes, mode=mode, frontage_m=frontage_m, fill_holes_m2=fill_holes_m2
    )
    t0 = time.perf_counter()
    graph = travel_graph(network, profile=profile)
    sp = _snap_stations(stations, network, max_snap_m)
    pieces = _street_pieces(network, graph, sp, mins, mode)
    n_t = len(mins)
    shapes, group, stage, shape = share_blocks(
        edge_index(network),
        pieces,
        n_stages=n_t,
        frontage_m=frontage_m,
        block_m=BLOCK_M if mode == "overlap" else None,
    )
    groups, polys = circles_from_pieces(
        shapes[shape],
        group,
        stage=stage,
        n_stages=n_t,
        identity=group.astype(np.int64) * len(shapes) + shape,
        shape=shape,
        frontage_m=frontage_m,
        fill_holes_m2=fill_holes_m2,
        streets=edge_index(network).search,  # STRtree queries without a million lines
        cell_m=cell_m,
    )
    t_pieces = time.perf_counter() - t0

    # one row per (station or the service, threshold); no geometry when nothing was reached
    n_groups = len(sp.ids) if mode != "dissolve" else 1
    geom = np.full(n_groups * n_t, None, dtype=object)
    geom[groups] = polys
    if mode == "split":
        by_t = geom.reshape(n_groups, n_t)
        for ti in range(n_t):
            by_t[:, ti] = _share_holes(by_t[:, ti], fill_holes_m2, edge_index(network).search)
        geom = by_t.reshape(-1)
    # on a 1 cm grid: slivers thinner than that (where unions met) collapse, and the
    # polygons stay valid through the reprojection to WGS-84 and back
    has = ~shapely.is_missing(geom)
    geom[has] = _in_threads(shapely.set_precision, geom[has], grid_size=0.01, min_rows=2)
    circle = _straight_circles(sp, np.asarray(mins) * profile.speed_m_per_min, mode)
    if rings and n_t > 1:
        geom = _rings(geom.reshape(n_groups, n_t), grid_size=0.01).reshape(-1)
        circle = _rings(circle.reshape(-1, n_t)).reshape(-1)
    present = ~shapely.is_missing(geom)
    area = np.where(present, shapely.area(geom), 0.0)
    c_area = np.where(shapely.is_missing(circle), 0.0, shapely.area(circle))
    inter = np.where(
        present, shapely.area(_in_threads(shapely.intersection, geom, circle, min_rows=2)), 0.0
    )
    share = np.where(c_area > 0, inter / np.where(c_area > 0, c_area, 1.0), np.nan)

    t_pos = np.tile(np.arange(n_t), n_groups)
    lower = np.r_[0.0, np.asarray(mins)[:-1]] if rings else np.zeros(n_t)
    station_id: ExtensionArray
    if mode == "dissolve":
        station_id = pd.array([None] * len(geom), dtype="str")
        reason = np.where(present, "", "unreachable")
    else:
        station_id = sp.ids.take(np.repeat(np.arange(n_groups), n_t))
        snapped_row = np.repeat(sp.snapped, n_t)
        reason = np.where(present, "", np.where(snapped_row, "unreachable", "far_from_network"))
    frame = pd.DataFrame(
        {
            "service": pd.array([service] * len(geom), dtype="str"),
            "station_id": station_id,
            "minutes": np.asarray(mins)[t_pos],
            "min_minutes": lower[t_pos],
            "profile": profile.name,
            "area_km2": area / 1e6,
            "circle_share": share,
            "reason": reason,
        }
    )
    counts = _counts(
        compounds,
        snapped,
        sp,
        network,
        profile=profile,
        mins=mins,
        mode=mode,
        rings=rings,
        weight_column=weight_column,
        max_snap_m=max_snap_m,
        entrances=entrances,
    )
    if counts is not None:
        sid = frame["station_id"].astype(object).where(frame["station_id"].notna(), "")
        ti_all = pd.Index(mins).get_indexer(pd.Index(frame["minutes"]))
        looked = counts.reindex(pd.MultiIndex.from_arrays([sid.to_numpy(), ti_all]))
        frame["compounds"] = looked["compounds"].fillna(0).astype("int64").to_numpy()
        frame["households"] = looked["households"].fillna(0.0).to_numpy(dtype=np.float64)
    out = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geom, crs=network.crs)).to_crs(4326)
    wgs = out.geometry.to_numpy()
    bad = ~shapely.is_missing(wgs) & ~shapely.is_valid(wgs)
    if bad.any():  # rounding in the reprojection can pinch a thin part
        wgs[bad] = shapely.make_valid(wgs[bad], method="structure", keep_collapsed=False)
        out = out.set_geometry(gpd.GeoSeries(wgs, crs=4326, index=out.index))
    log.info(
        "isochrones (%s%s) for %d stations x %s min: %d pieces of street, %d polygons "
        "(%.2f s, %.2f s in total)",
        mode,
        ", rings" if rings else "",
        int(sp.snapped.sum()),
        "/".join(f"{t:g}" for t in mins),
        len(pieces),
        int((~shapely.is_missing(geom)).sum()),
        t_pieces,
        time.perf_counter() - t0,
    )
    return out


def study_circles(
    study: Study,
    service: str,
    network: WalkNetwork,
    stations: gpd.GeoDataFrame | SnappedPoints,
    compounds: gpd.GeoDataFrame,
    *,
    origins: SnappedPoints,
    minutes: Sequence[float] | None = None,
    mode: Mode = "dissolve",
    rings: bool = False,
) -> gpd.GeoDataFrame:
    """Walk-time circles of one service of a study, with the study's own options.

    ``analyze`` and the ``isochrones`` command both call this, so their circles use the same
    profile, frontage, hole size, weights and snapping as the coverage tables.

    Parameters
    ----------
    study
        The study (profiles, ``frontage_m``, ``fill_holes_m2``, ``max_snap_m``).
    service
        Service key (``services.<key>``).
    network
        The walk network.
    stations
        The service's stations (a layer, or already snapped).
    compounds
        The compound layer (households on the circles).
    origins
        The compounds snapped by :func:`coverage.snap.snap_study_compounds`.
    minutes
        Thresholds; default the service's.
    mode, rings
        As for :func:`isochrones`.

    Returns
    -------
    geopandas.GeoDataFrame
        See :func:`isochrones`.
    """
    svc = study.services[service]
    return isochrones(
        network,
        stations,
        profile=study.profiles[svc.profile],
        minutes=minutes or svc.minutes,
        mode=mode,
        rings=rings,
        frontage_m=study.frontage_m,
        fill_holes_m2=study.fill_holes_m2,
        compounds=compounds,
        snapped=origins,
        weight_column=svc.weight_column,
        service=service,
        max_snap_m=study.max_snap_m,
    )


#: :func:`isochrones` under a name that differs from its module's, for the top level
#: (``cp.service_areas``; ``coverage.isochrones`` is this module).
service_areas = isochrones
