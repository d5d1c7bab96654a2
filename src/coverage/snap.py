"""Access points of compounds and snapping points onto the walk network.

A point enters the network by projecting it onto the **nearest walkable edge** (not the
nearest node), in the network's local metric CRS. The result of a snap is the edge, its end
nodes ``u`` and ``v``, the distance along the edge from ``u`` (``along_m``, in the units of the
edge's ``length_m``: the projected fraction of the line times ``length_m``) and the straight
access leg from the point to the edge (``access_m``). A point farther than ``max_snap_m`` from
every walkable edge is not snapped and gets the reason ``"far_from_network"``. Every edge of a
:class:`~coverage.network.WalkNetwork` is walkable (the builder applied the walk filter),
including ``private`` ones. The nearest edge is found exactly, vectorised, with a KD-tree over
short pieces of the edges' segments (see :class:`EdgeIndex`; about ten times faster than
``shapely.STRtree.query_nearest`` on whole edges, which is used for polygons and gates).

Compounds are reached through **access points** (a point compound is its own access point;
polygons by the rule of :mod:`coverage.access`: gates, entries or open boundary points).

A compound's walk time is the best over its access points (see :mod:`coverage.travel`).
:func:`snap_compounds` derives and snaps the access points once and returns a
:class:`SnappedCompounds`: it does not depend on the travel profile, so one snap serves every
service type of a study (the travel functions accept it in place of the compound layer).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TypeVar, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from pandas.api.extensions import ExtensionArray

from coverage._validate import id_problems, missing_columns
from coverage.access import (
    UNFENCED_SOURCES,
    AccessPoints,
    OpenSpans,
    derive_access,
    gates_metric,
)
from coverage.config import (
    DEFAULT_GATE_LINK_M,
    DEFAULT_GATE_TOLERANCE_M,
    DEFAULT_MAX_SNAP_M,
    Study,
)
from coverage.errors import CRSError, InputError, Problem
from coverage.netarrays import PIECE_M, EdgeIndex, morton_key
from coverage.walknetwork import WalkNetwork

__all__ = [
    "PIECE_M",
    "EdgeIndex",
    "SnappedCompounds",
    "SnappedPoints",
    "access_points",
    "access_table",
    "edge_index",
    "snap_compounds",
    "snap_layer",
    "snap_points",
    "snap_study_compounds",
    "take_points",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

_K_NEAREST = 8  # candidate pieces examined per point before the exactness check
_CHUNK = 65_536  # points per block (bounds the memory of the candidate arrays)
_PARALLEL_MIN = 4096  # from this many points on, KD-tree queries use every core
_SORT_MIN = 2048  # from this many points on, points are snapped in Z-order
_SORT_CELL_M = 100.0  # grid cell of that Z-order


def edge_index(network: WalkNetwork) -> EdgeIndex:
    """Return the projected edges and their spatial index (:attr:`WalkNetwork.edge_index`).

    Built on first use and kept with the network (whose tables cannot change).

    Parameters
    ----------
    network
        The walk network.

    Returns
    -------
    EdgeIndex
    """
    return network.edge_index


# --------------------------------------------------------------------------------------------
# snapping


@dataclass(frozen=True)
class _Snap:
    """Snaps of an array of metric points (internal, array form)."""

    edge: np.ndarray  # int64, -1 when not snapped
    along_m: np.ndarray  # float64, NaN when not snapped
    access_m: np.ndarray  # float64, NaN when not snapped
    x: np.ndarray  # projected point on the edge (metric), NaN when not snapped
    y: np.ndarray


def _segment_distance(
    px: np.ndarray, py: np.ndarray, seg: np.ndarray, index: EdgeIndex
) -> tuple[np.ndarray, np.ndarray]:
    """Distance from points to segments (same shapes) and the foot's fraction along them."""
    # four flat gathers: much cheaper than fancy-indexing rows of the (V, 2) array
    flat = index.coords.reshape(-1)
    k = 2 * index.seg_start[seg]
    ax, ay = flat.take(k), flat.take(k + 1)
    dx, dy = flat.take(k + 2) - ax, flat.take(k + 3) - ay
    ll = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(ll > 0, ((px - ax) * dx + (py - ay) * dy) / ll, 0.0)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(px - (ax + t * dx), py - (ay + t * dy)), t


def _nearest_segments(
    px: np.ndarray, py: np.ndarray, index: EdgeIndex, max_snap_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest segment of every point (-1 when none within max_snap_m), distance, fraction."""
    n = len(px)
    n_pieces = len(index.piece_seg)
    best_seg = np.full(n, -1, dtype=np.int64)
    best_d = np.full(n, np.inf)
    best_t = np.zeros(n)
    if n == 0 or n_pieces == 0:
        return best_seg, best_d, best_t
    h = index.half_piece
    k = min(_K_NEAREST, n_pieces)
    rows = np.arange(n)
    # KD-tree queries of many points are spread over every core (the result is the same)
    workers = -1 if n >= _PARALLEL_MIN else 1
    d_mid, i_mid = index.kdtree.query(
        np.column_stack([px, py]),
        k=k,
        distance_upper_bound=max_snap_m + h + 1e-6,
        workers=workers,
    )
    d_mid = d_mid.reshape(n, k)
    i_mid = i_mid.reshape(n, k)
    found = i_mid < n_pieces
    seg = index.piece_seg[np.where(found, i_mid, 0)]
    dist, t = _segment_distance(px[:, None], py[:, None], seg, index)
    dist = np.where(found, dist, np.inf)
    j = np.argmin(dist, axis=1)
    best_d = dist[rows, j]
    best_seg = np.where(np.isfinite(best_d), seg[rows, j], -1)
    best_t = t[rows, j]
    # exact unless a piece beyond the k-th midpoint could still be nearer
    r_k = d_mid[:, -1]
    unsure = np.flatnonzero(np.isfinite(r_k) & (best_d > r_k - h))
    if len(unsure):
        radius = np.minimum(best_d[unsure], max_snap_m) + h + 1e-6
        hits = index.kdtree.query_ball_point(
            np.column_stack([px[unsure], py[unsure]]),
            r=radius,
            return_sorted=False,
            workers=-1 if len(unsure) >= _PARALLEL_MIN else 1,
        )
        lens = np.fromiter((len(x) for x in hits), dtype=np.int64, count=len(hits))
        if lens.sum():
            who = np.repeat(unsure, lens)
            seg2 = index.piece_seg[np.concatenate([np.asarray(x, dtype=np.int64) for x in hits])]
            d2, t2 = _segment_distance(px[who], py[who], seg2, index)
            order = np.lexsort((d2, who))
            first = order[np.r_[True, who[order][1:] != who[order][:-1]]]
            better = d2[first] < best_d[who[first]]
            w = who[first][better]
            best_d[w] = d2[first][better]
            best_seg[w] = seg2[first][better]
            best_t[w] = t2[first][better]
    far = best_d > max_snap_m
    best_seg[far] = -1
    return best_seg, best_d, best_t


def _snap_xy(px: np.ndarray, py: np.ndarray, index: EdgeIndex, max_snap_m: float) -> _Snap:
    """Project metric coordinates onto their nearest walkable edge (vectorised, in blocks)."""
    n = len(px)
    edge = np.full(n, -1, dtype=np.int64)
    along = np.full(n, np.nan)
    access = np.full(n, np.nan)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    valid = np.flatnonzero(np.isfinite(px) & np.isfinite(py))
    if len(valid) > _SORT_MIN:
        # nearby points one after another: the KD-tree and coordinate look-ups stay in cache
        # (every point's snap is computed on its own: the order does not change the result)
        valid = valid[np.argsort(morton_key(px[valid], py[valid], _SORT_CELL_M), kind="stable")]
    for lo in range(0, len(valid), _CHUNK):
        pos = valid[lo : lo + _CHUNK]
        seg, dist, t = _nearest_segments(px[pos], py[pos], index, max_snap_m)
        ok = seg >= 0
        pos, seg, dist, t = pos[ok], seg[ok], dist[ok], t[ok]
        e = index.seg_edge[seg]
        flat = index.coords.reshape(-1)
        k = 2 * index.seg_start[seg]
        ax, ay = flat.take(k), flat.take(k + 1)
        dx, dy = flat.take(k + 2) - ax, flat.take(k + 3) - ay
        seg_len = np.hypot(dx, dy)
        plen = index.proj_len[e]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(plen > 0, (index.seg_offset[seg] + t * seg_len) / plen, 0.0)
        frac = np.clip(frac, 0.0, 1.0)
        edge[pos] = e
        along[pos] = frac * index.length_m[e]
        access[pos] = dist
        x[pos] = ax + t * dx
        y[pos] = ay + t * dy
    return _Snap(edge, along, access, x, y)


@lru_cache(maxsize=64)
def _transformer(src: pyproj.CRS | str, dst: pyproj.CRS | str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


_BY_IDENTITY: dict[tuple[int, str], tuple[object, pyproj.Transformer]] = {}


def _transformer_to(src: pyproj.CRS | str, dst: str) -> pyproj.Transformer:
    """:func:`_transformer` found by the identity of ``src``.

    A layer's CRS is one ``pyproj.CRS`` object for the layer's life, and hashing one (as the
    ``lru_cache`` key does) writes its WKT: a fifth of a millisecond per call.
    """
    key = (id(src), dst)
    hit = _BY_IDENTITY.get(key)
    if hit is not None and hit[0] is src:  # the entry holds src, so its id is not reused
        return hit[1]
    found = _transformer(src, dst)
    if len(_BY_IDENTITY) >= 64:
        _BY_IDENTITY.clear()
    _BY_IDENTITY[key] = (src, found)
    return found


def _geoms_xy(geoms: np.ndarray, src: pyproj.CRS | str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Metric x, y of each geometry: the point, else a point on its surface (NaN if none)."""
    n = len(geoms)
    kind = shapely.get_type_id(geoms)
    if n and kind.min() == 0 and kind.max() == 0:
        xy = shapely.get_coordinates(geoms)
        if len(xy) == n:  # all points, none empty (an empty point has no coordinates)
            gx, gy = _transformer_to(src, dst).transform(xy[:, 0], xy[:, 1])
            return np.asarray(gx, dtype=np.float64), np.asarray(gy, dtype=np.float64)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    filled = (kind >= 0) & ~shapely.is_empty(geoms)
    pt = filled & (kind == 0)
    if pt.any():
        gx, gy = _transformer_to(src, dst).transform(
            shapely.get_x(geoms[pt]), shapely.get_y(geoms[pt])
        )
        x[pt], y[pt] = gx, gy
    other = filled & (kind != 0)
    if other.any():
        metric = np.asarray(gpd.GeoSeries(geoms[other], crs=src).to_crs(dst).values)
        inner = shapely.point_on_surface(metric)
        x[other], y[other] = shapely.get_x(inner), shapely.get_y(inner)
    return x, y


def _metric_xy(frame: gpd.GeoDataFrame, crs: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Metric x, y of every row's point (a point on the surface of other geometries)."""
    _require_crs(frame, what)
    return _geoms_xy(np.asarray(frame.geometry.values, dtype=object), frame.crs, crs)


def _id_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c != "geometry" and (c.endswith("_id") or c == "kind")]


def _require_crs(frame: gpd.GeoDataFrame, what: str) -> None:
    if frame.crs is None:
        raise CRSError(
            Problem(
                what,
                "图层没有坐标参考系 (the layer has no CRS); set one, e.g. "
                "gdf.set_crs('EPSG:4326'), before snapping",
            )
        )


def _check_layer(frame: gpd.GeoDataFrame, *, what: str, id_column: str, header: str) -> None:
    """Check a compound or station layer before snapping.

    Raises one :class:`InputError` naming every missing or duplicate id and missing geometry
    (or the missing id column), then a :class:`CRSError` when the layer has no CRS.
    """
    problems = missing_columns(frame.columns, [id_column], file=what)
    if not problems:
        problems += id_problems(frame[id_column], file=what, column=id_column)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    for row in np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms)):
        problems.append(
            Problem(what, "缺少几何 (missing geometry)", row=int(row) + 1, column="geometry")
        )
    if problems:
        raise InputError(problems, header=header)
    _require_crs(frame, what)


def _str_array(ids: pd.Series) -> ExtensionArray:
    """Ids as a pandas ``"str"`` array (no copy when they already are one)."""
    if ids.dtype == "str":
        return ids.array
    return pd.array(ids.astype("str").to_numpy(), dtype="str")


def snap_points(
    points: gpd.GeoDataFrame, network: WalkNetwork, *, max_snap_m: float = DEFAULT_MAX_SNAP_M
) -> pd.DataFrame:
    """Snap points onto the nearest walkable edge of the network.

    Parameters
    ----------
    points
        Point layer (any CRS). Non-point geometries are snapped at their representative point.
    network
        The walk network.
    max_snap_m
        Points farther than this (metres) from every walkable edge are not snapped.

    Returns
    -------
    pandas.DataFrame
        Same index as ``points``; the input's id columns (``*_id``, ``kind``) first, then
        ``edge`` (int64 edge index, -1 when not snapped), ``u``, ``v`` (int64 node indices,
        -1), ``along_m`` (distance along the edge from ``u`` in the edge's ``length_m`` units),
        ``access_m`` (straight access leg in metres), ``snap_lon``, ``snap_lat`` (WGS-84 point
        where the access leg meets the edge) and ``reason`` (``""`` or
        ``"far_from_network"``).

    Raises
    ------
    CRSError
        When ``points`` has no CRS.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd
    >>> from shapely import LineString, Point
    >>> from coverage.network import WalkNetwork
    >>> nodes = pd.DataFrame({"node_id": [1, 2], "lon": [0.0, 0.001], "lat": [0.0, 0.0],
    ...                       "component": [0, 0]})
    >>> edges = gpd.GeoDataFrame({"u": [0], "v": [1], "length_m": [111.3], "highway": ["path"],
    ...     "access": [None], "private": [False], "way_id": [7]},
    ...     geometry=[LineString([(0, 0), (0.001, 0)])], crs="EPSG:4326")
    >>> net = WalkNetwork(nodes, edges, "EPSG:32631")
    >>> pts = gpd.GeoDataFrame({"station_id": ["s"]}, geometry=[Point(0.0005, 0.0001)],
    ...                        crs="EPSG:4326")
    >>> row = snap_points(pts, net).iloc[0]
    >>> int(row.edge), float(round(row.along_m, 1)), round(row.access_m)
    (0, 55.7, 11)
    """
    index = edge_index(network)
    x, y = _metric_xy(points, network.crs, "points")
    snap = _snap_xy(x, y, index, max_snap_m)
    return _snap_frame(points, snap, index, network.crs)


def _snap_frame(points: pd.DataFrame, snap: _Snap, index: EdgeIndex, crs: str) -> pd.DataFrame:
    ok = snap.edge >= 0
    e = np.where(ok, snap.edge, 0)
    u = np.where(ok, index.u[e] if len(index.u) else -1, -1)
    v = np.where(ok, index.v[e] if len(index.v) else -1, -1)
    lon = np.full(len(ok), np.nan)
    lat = np.full(len(ok), np.nan)
    if ok.any():
        lon[ok], lat[ok] = _transformer(crs, "EPSG:4326").transform(snap.x[ok], snap.y[ok])
    out = pd.DataFrame(
        {c: points[c].to_numpy() for c in _id_columns(points)}, index=points.index.copy()
    )
    out["edge"] = snap.edge
    out["u"] = u.astype(np.int64)
    out["v"] = v.astype(np.int64)
    out["along_m"] = snap.along_m
    out["access_m"] = snap.access_m
    out["snap_lon"] = lon
    out["snap_lat"] = lat
    out["reason"] = np.where(ok, "", "far_from_network")
    return out


# --------------------------------------------------------------------------------------------
# access points


@dataclass(frozen=True, eq=False)
class SnappedPoints:
    """A layer's points snapped onto a walk network, ready for the travel functions.

    One object for any layer: compounds (through their access points, :func:`snap_compounds`),
    stations and candidate sites (every feature is its own access point, :func:`snap_layer`).
    It does not depend on the travel profile, so one snap serves every service type and
    profile of a study; :func:`coverage.travel.nearest_station`,
    :func:`coverage.travel.walk_times` and :func:`coverage.travel.node_times` take it in place
    of the layer. It holds arrays only (numpy, and the ids as a pandas string array) and
    pickles. Its numpy arrays are read-only, so what the travel functions derive from them
    (:meth:`derived`) cannot go stale.

    Attributes
    ----------
    ids
        Every feature's id, in the layer's order (a pandas ``"str"`` array).
    id_column
        The layer's id column (``compound_id``, ``station_id``, ...).
    snapped
        Per feature: at least one of its access points is within ``max_snap_m`` of a
        walkable edge (otherwise its reason is ``"far_from_network"``).
    owner
        Per snapped access point: position of its feature in ``ids`` (ascending).
    kind
        Per snapped access point: ``"point"``, ``"gate"`` or ``"entry"``.
    edge
        Per snapped access point: the edge it is projected onto.
    along_m
        Per snapped access point: distance along the edge from its ``u`` end, in the units
        of the edge's ``length_m``.
    access_m
        Per snapped access point: the straight access leg in metres.
    x, y
        Per snapped access point: its position (before snapping) in the network's metric CRS.
    n_access_points
        All access points derived, snapped or not.
    max_snap_m, access
        The options the points were snapped with (``access`` is the compounds' access rule,
        see :mod:`coverage.access`; ``"point"`` for a layer of points).
    network_fingerprint
        :attr:`EdgeIndex.fingerprint` of the network the points were snapped onto.
    crs
        The network's metric CRS (of ``x``, ``y``).
    rule
        Per feature: the access rule applied (``"point"``, ``"gates"``, ``"entries"``,
        ``"open"``, or ``"none"`` when the study's rule gave it no access point).
    gate
        Per snapped access point: the gate's OSM id and name, None for other kinds.
    spans
        The boundary stretches of the compounds entered by the ``open`` rule, in edge and
        ``along_m`` units (owner = feature position): a station on a stretch's edge adds the
        boundary point opposite it (see :class:`coverage.access.OpenSpans`); empty for other
        layers.
    """

    ids: ExtensionArray
    id_column: str
    snapped: np.ndarray
    owner: np.ndarray
    kind: np.ndarray
    edge: np.ndarray
    along_m: np.ndarray
    access_m: np.ndarray
    x: np.ndarray
    y: np.ndarray
    n_access_points: int
    max_snap_m: float
    access: str
    network_fingerprint: str
    crs: str
    rule: np.ndarray
    gate: np.ndarray
    spans: OpenSpans = field(default_factory=OpenSpans.empty)

    def __post_init__(self) -> None:
        # read-only: the travel functions derive and keep arrays from these
        for arr in (
            self.snapped,
            self.owner,
            self.kind,
            self.edge,
            self.along_m,
            self.access_m,
            self.x,
            self.y,
            self.rule,
            self.gate,
            *(getattr(self.spans, f) for f in OpenSpans.__dataclass_fields__),
        ):
            if isinstance(arr, np.ndarray):
                arr.flags.writeable = False

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "_derived"}

    def __setstate__(self, state: dict[str, object]) -> None:
        state.setdefault("spans", OpenSpans.empty())  # pickled before the field existed
        self.__dict__.update(state)
        self.__post_init__()

    def __len__(self) -> int:
        """Number of features (compounds, stations, ...)."""
        return len(self.ids)

    def __repr__(self) -> str:
        return (
            f"<SnappedPoints {len(self)} {self.id_column} ({int(self.snapped.sum())} snapped, "
            f"{len(self.owner)} of {self.n_access_points} access points) "
            f"within {self.max_snap_m:g} m>"
        )

    @property
    def compound_ids(self) -> ExtensionArray:
        """The ids (the name :class:`SnappedCompounds` had)."""
        return self.ids

    @property
    def reason(self) -> np.ndarray:
        """Per feature: ``""``, or ``"far_from_network"`` when none of its points snapped."""
        return np.where(self.snapped, "", "far_from_network")

    def derived(self, key: object, build: Callable[[], T]) -> T:
        """Return ``build()``, made once per ``key`` (held weakly) and kept with these points.

        Parameters
        ----------
        key
            A weakly referenceable object the product depends on (e.g. a travel graph).
        build
            Makes it.

        Returns
        -------
        object
        """
        store = self.__dict__.get("_derived")
        if store is None:
            store = self.__dict__.setdefault("_derived", weakref.WeakKeyDictionary())
        if key not in store:
            store[key] = build()
        value: T = store[key]
        return value

    def check_network(self, network: WalkNetwork) -> None:
        """Raise when the points were snapped onto another network.

        Parameters
        ----------
        network
            The network about to be used with these points.

        Raises
        ------
        InputError
            When ``network`` is not the one the points were snapped onto.
        """
        self.check_fingerprint(network.edge_index.fingerprint)

    def check_fingerprint(self, fingerprint: str) -> None:
        """Raise :class:`InputError` unless ``fingerprint`` is the network's they snapped onto.

        Parameters
        ----------
        fingerprint
            :attr:`EdgeIndex.fingerprint` of the network about to be used.

        Raises
        ------
        InputError
            When the fingerprints differ.
        """
        if fingerprint != self.network_fingerprint:
            raise InputError(
                f"{self.id_column}: 这些点是在另一个路网上吸附的 (the points were snapped onto "
                "another network); snap them again (snap_compounds / snap_layer) with this "
                "network"
            )


SnappedCompounds = SnappedPoints
"""The compounds' snapped access points (the same class as :class:`SnappedPoints`)."""


def snap_layer(
    points: gpd.GeoDataFrame,
    network: WalkNetwork,
    *,
    id_column: str | None = None,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> SnappedPoints:
    """Snap a layer whose every feature is one point (stations, candidate sites), once.

    Parameters
    ----------
    points
        Layer with a unique id column and Point geometry (any CRS); other geometries are
        snapped at a point on their surface.
    network
        The walk network.
    id_column
        The id column; by default the layer's only column named ``*_id``.
    max_snap_m
        Points farther than this (metres) from every walkable edge are not snapped.

    Returns
    -------
    SnappedPoints
        One access point (kind ``"point"``) per feature.

    Raises
    ------
    InputError
        When the id column is missing or ambiguous, an id is empty or duplicated, or a
        geometry is missing.
    CRSError
        When ``points`` has no CRS.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd
    >>> from shapely import LineString, Point
    >>> nodes = pd.DataFrame({"node_id": [1, 2], "lon": [0.0, 0.001], "lat": [0.0, 0.0],
    ...                       "component": [0, 0]})
    >>> edges = gpd.GeoDataFrame({"u": [0], "v": [1], "length_m": [111.3], "highway": ["path"],
    ...     "access": [None], "private": [False], "way_id": [7]},
    ...     geometry=[LineString([(0, 0), (0.001, 0)])], crs="EPSG:4326")
    >>> net = WalkNetwork(nodes, edges, "EPSG:32631")
    >>> st = gpd.GeoDataFrame({"station_id": ["s1", "s2"]},
    ...     geometry=[Point(0.0005, 0.0001), Point(0.0005, 0.01)], crs="EPSG:4326")
    >>> snapped = snap_layer(st, net)
    >>> snapped.id_column, snapped.snapped.tolist(), snapped.reason.tolist()
    ('station_id', [True, False], ['', 'far_from_network'])
    """
    column = _id_column(points, id_column)
    _check_layer(
        points,
        what=column.removesuffix("_id") + "s",
        id_column=column,
        header=_LAYER_HEADERS.get(column, f"{column}: 图层有问题 (the layer has problems)"),
    )
    t0 = time.perf_counter()
    x, y = _metric_xy(points, network.crs, "points")
    index = edge_index(network)
    snap = _snap_xy(x, y, index, max_snap_m)
    ok = snap.edge >= 0
    pos = np.flatnonzero(ok)
    out = SnappedPoints(
        ids=_str_array(points[column]),
        id_column=column,
        snapped=ok,
        owner=pos,
        kind=np.full(len(pos), "point", dtype=object),
        edge=snap.edge[ok],
        along_m=snap.along_m[ok],
        access_m=snap.access_m[ok],
        x=x[ok],
        y=y[ok],
        n_access_points=len(points),
        max_snap_m=float(max_snap_m),
        access="point",
        network_fingerprint=index.fingerprint,
        crs=network.crs,
        rule=np.full(len(points), "point", dtype=object),
        gate=np.full(len(pos), None, dtype=object),
    )
    log.debug(
        "snapped %d of %d %s points within %g m (%.3f s)",
        len(pos),
        len(points),
        column,
        max_snap_m,
        time.perf_counter() - t0,
    )
    return out


_LAYER_HEADERS = {
    "compound_id": "compounds: 小区图层有问题 (the compound layer has problems)",
    "station_id": "stations: 站点图层有问题 (the station layer has problems)",
}


def _id_column(points: pd.DataFrame, id_column: str | None) -> str:
    """The given id column, else the layer's only ``*_id`` column."""
    if id_column is not None:
        return id_column
    found = [str(c) for c in points.columns if str(c).endswith("_id")]
    if len(found) != 1:
        raise InputError(
            "请用 id_column 指定编号列 (give id_column: the layer has "
            f"{len(found)} columns named *_id: {found})"
        )
    return found[0]


def snap_compounds(
    compounds: gpd.GeoDataFrame,
    network: WalkNetwork,
    *,
    entrances: gpd.GeoDataFrame | None = None,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    access: str = "auto",
    gate_tolerance_m: float = DEFAULT_GATE_TOLERANCE_M,
    gate_link_m: float = DEFAULT_GATE_LINK_M,
) -> SnappedPoints:
    """Derive every compound's access points and snap them onto the network, once.

    The result serves every service type and travel profile: pass it to
    :func:`coverage.travel.nearest_station` and :func:`coverage.travel.walk_times` in place
    of the compound layer.

    Parameters
    ----------
    compounds
        Compound layer with ``compound_id`` and Point or (Multi)Polygon geometry (any CRS).
    network
        The walk network.
    entrances
        Optional OSM entrance points used as gates of polygon compounds
        (see :func:`access_points`).
    max_snap_m
        Access points farther than this (metres) from every walkable edge are not snapped.
    access, gate_tolerance_m, gate_link_m
        The access rule and its distances (see :mod:`coverage.access`).

    Returns
    -------
    SnappedPoints
        ``id_column`` is ``"compound_id"``.

    Raises
    ------
    InputError
        When ``compound_id`` is missing, empty or duplicated, or a geometry is missing; when
        an access option is invalid.
    CRSError
        When ``compounds`` or ``entrances`` has no CRS.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd
    >>> from shapely import LineString, Point
    >>> nodes = pd.DataFrame({"node_id": [1, 2], "lon": [0.0, 0.001], "lat": [0.0, 0.0],
    ...                       "component": [0, 0]})
    >>> edges = gpd.GeoDataFrame({"u": [0], "v": [1], "length_m": [111.3], "highway": ["path"],
    ...     "access": [None], "private": [False], "way_id": [7]},
    ...     geometry=[LineString([(0, 0), (0.001, 0)])], crs="EPSG:4326")
    >>> net = WalkNetwork(nodes, edges, "EPSG:32631")
    >>> cmp = gpd.GeoDataFrame({"compound_id": ["a", "b"]},
    ...     geometry=[Point(0.0005, 0.0001), Point(0.0005, 0.01)], crs="EPSG:4326")
    >>> snapped = snap_compounds(cmp, net)
    >>> snapped.snapped.tolist(), snapped.edge.tolist(), round(float(snapped.access_m[0]))
    ([True, False], [0], 11)
    """
    t0 = time.perf_counter()
    found = _access_arrays(
        compounds,
        network,
        entrances=entrances,
        max_snap_m=max_snap_m,
        access=access,
        gate_tolerance_m=gate_tolerance_m,
        gate_link_m=gate_link_m,
    )
    pos = found.owner
    index = edge_index(network)
    snap = _snap_xy(found.x, found.y, index, max_snap_m)
    ok = snap.edge >= 0
    snapped = np.zeros(len(compounds), dtype=bool)
    snapped[pos[ok]] = True
    out = SnappedPoints(
        ids=_str_array(compounds["compound_id"]),
        id_column="compound_id",
        snapped=snapped,
        owner=pos[ok],
        kind=found.kind[ok],
        edge=snap.edge[ok],
        along_m=snap.along_m[ok],
        access_m=snap.access_m[ok],
        x=found.x[ok],
        y=found.y[ok],
        n_access_points=len(pos),
        max_snap_m=float(max_snap_m),
        access=access,
        network_fingerprint=index.fingerprint,
        crs=network.crs,
        rule=found.rule,
        gate=found.gate[ok],
        spans=_spans_along(found.spans, index),
    )
    log.info(
        "snapped %d of %d compounds (%d of %d access points) within %g m (%.2f s)",
        int(snapped.sum()),
        len(compounds),
        int(ok.sum()),
        len(pos),
        max_snap_m,
        time.perf_counter() - t0,
    )
    return out


def _spans_along(spans: OpenSpans, index: EdgeIndex) -> OpenSpans:
    """Open stretches from drawn metres along an edge to its ``along_m`` units."""
    plen = index.proj_len[spans.edge]
    ok = plen > 0
    spans = spans.take(np.flatnonzero(ok))
    scale = index.length_m[spans.edge] / plen[ok]  # along_m per drawn metre
    return OpenSpans(
        owner=spans.owner,
        edge=spans.edge,
        lo=spans.lo * scale,
        hi=spans.hi * scale,
        c0=spans.c0,
        c1=spans.c1 / scale,
        x0=spans.x0,
        x1=spans.x1 / scale,
        y0=spans.y0,
        y1=spans.y1 / scale,
    )


def access_points(
    compounds: gpd.GeoDataFrame,
    network: WalkNetwork,
    *,
    entrances: gpd.GeoDataFrame | None = None,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    access: str = "auto",
    gate_tolerance_m: float = DEFAULT_GATE_TOLERANCE_M,
    gate_link_m: float = DEFAULT_GATE_LINK_M,
) -> gpd.GeoDataFrame:
    """Derive the points where residents of each compound enter the walk network.

    Parameters
    ----------
    compounds
        Compound layer with ``compound_id`` and Point or (Multi)Polygon geometry (any CRS).
        Other geometry types are reduced to a point on their surface.
    network
        The walk network.
    entrances
        Optional OSM entrance points (``entrance=*``, ``barrier=gate``, with their ``osm_id``,
        ``name`` and the tags of :data:`coverage.access.GATE_RULES`): the usable ones near a
        polygon's boundary are its gates (see :mod:`coverage.access`).
    max_snap_m
        The snapping limit (edges farther than this give no open access point).
    access, gate_tolerance_m, gate_link_m
        The access rule and its distances (see :mod:`coverage.access`).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per access point, in compound order: ``compound_id``, ``kind`` (``"point"``,
        ``"gate"`` or ``"entry"``), ``gate`` (the gate's OSM id and name, None for other
        kinds), ``rule`` (the compound's access rule), ``geometry`` (Point, EPSG:4326). A
        compound that the study's rule gives no access point has no row.

    Raises
    ------
    InputError
        When ``compound_id`` is missing, empty or duplicated, or a geometry is missing; when
        an access option is invalid.
    CRSError
        When ``compounds`` or ``entrances`` has no CRS.
    """
    found = _access_arrays(
        compounds,
        network,
        entrances=entrances,
        max_snap_m=max_snap_m,
        access=access,
        gate_tolerance_m=gate_tolerance_m,
        gate_link_m=gate_link_m,
    )
    pos = found.owner
    ids = compounds["compound_id"].to_numpy()
    lon, lat = _transformer(network.crs, "EPSG:4326").transform(found.x, found.y)
    return gpd.GeoDataFrame(
        {
            "compound_id": pd.array(ids[pos], dtype="str"),
            "kind": pd.array(found.kind, dtype="str"),
            "gate": found.gate,
            "rule": pd.array(found.rule[pos], dtype="str"),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


def _access_arrays(
    compounds: gpd.GeoDataFrame,
    network: WalkNetwork,
    *,
    entrances: gpd.GeoDataFrame | None,
    max_snap_m: float,
    access: str,
    gate_tolerance_m: float,
    gate_link_m: float,
) -> AccessPoints:
    """Access points of every compound (``owner`` = position in the layer; ``rule`` per row)."""
    _check_layer(
        compounds,
        what="compounds",
        id_column="compound_id",
        header="compounds: 小区图层有问题 (the compound layer has problems)",
    )
    if entrances is not None:
        _require_crs(entrances, "entrances")
    index = edge_index(network)
    geoms = np.asarray(compounds.geometry.values, dtype=object)
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    pos_point = np.flatnonzero(~polygonal)
    pt_x, pt_y = _geoms_xy(geoms[pos_point], compounds.crs, network.crs)

    pos_poly = np.flatnonzero(polygonal)
    polys = np.asarray(
        gpd.GeoSeries(geoms[pos_poly], crs=compounds.crs).to_crs(network.crs).values,
        dtype=object,
    )
    gates, labels, boundary_only = (
        gates_metric(entrances, network.crs) if len(polys) else (None, None, None)
    )
    # the edges' search only when a polygon needs it (points do not): it answers the queries
    # of an STRtree of the walkable edges (same results, same order) and makes LineStrings
    # only for the edges a query reaches; its ``geometries`` stand in for the array of them
    has_polys = len(polys) > 0
    search = index.search if has_polys else None
    found = derive_access(
        polys,
        cast(np.ndarray, search.geometries) if search is not None else np.empty(0, object),
        tree=search,
        gates=gates,
        labels=labels,
        boundary_only=boundary_only,
        mode=access,
        gate_tolerance_m=gate_tolerance_m,
        gate_link_m=gate_link_m,
        max_snap_m=max_snap_m,
        unfenced=_unfenced(compounds, pos_poly),
    )
    rule = np.full(len(compounds), "point", dtype=object)
    rule[pos_poly] = found.rule
    n_pt = len(pos_point)
    pos = np.concatenate([pos_point, pos_poly[found.owner]]).astype(np.int64)
    order = np.argsort(pos, kind="stable")
    out = AccessPoints(
        owner=pos[order],
        kind=np.concatenate([np.full(n_pt, "point", dtype=object), found.kind])[order],
        x=np.concatenate([pt_x, found.x])[order],
        y=np.concatenate([pt_y, found.y])[order],
        gate=np.concatenate([np.full(n_pt, None, dtype=object), found.gate])[order],
        rule=rule,
        ignored_gates=found.ignored_gates,
        spans=replace(
            found.spans,
            owner=pos_poly[found.spans.owner],
            edge=index.walkable[found.spans.edge] if has_polys else found.spans.edge,
        ),
    )
    if log.isEnabledFor(logging.INFO):
        kinds, counts = np.unique(out.kind.astype(str), return_counts=True)
        rules, r_counts = np.unique(rule.astype(str), return_counts=True)
        log.info(
            "access points: %d for %d compounds (%s); rules: %s",
            len(pos),
            len(compounds),
            ", ".join(f"{c} {k}" for k, c in zip(kinds, counts, strict=True)),
            ", ".join(f"{c} {k}" for k, c in zip(rules, r_counts, strict=True)),
        )
    return out


def _unfenced(compounds: pd.DataFrame, rows: np.ndarray) -> np.ndarray | None:
    """Per compound at ``rows``: drawn around its buildings (``source``, see
    :data:`coverage.access.UNFENCED_SOURCES`); None without a ``source`` column."""
    if "source" not in compounds.columns:
        return None
    return compounds["source"].isin(UNFENCED_SOURCES).to_numpy()[rows]


def access_table(
    snapped: SnappedPoints,
    used: np.ndarray,
    *,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
) -> pd.DataFrame:
    """How each compound was entered, for the outputs.

    Parameters
    ----------
    snapped
        The snapped compounds.
    used
        Per compound: the position among ``snapped``'s access points of the one its time
        leaves from, -1 for none (the ``access_index`` column of
        :func:`coverage.travel.nearest_station` with ``with_access_point=True``).
    x, y
        Per compound: the position (metric) of the point its time leaves from (the
        ``access_x``, ``access_y`` columns of the same table). Where it is not the access
        point ``used`` (an ``open`` compound's boundary point opposite a station), that point
        is reported, of kind ``"point"``.

    Returns
    -------
    pandas.DataFrame
        One row per compound: ``access`` (kind of the access point used: ``"gate"``,
        ``"entry"`` or ``"point"``; ``""`` when none), ``access_rule`` (the rule applied, see
        :mod:`coverage.access`), ``access_point`` (a gate's OSM id and name, else the point's
        ``"lon,lat"``; ``""`` when none) and ``access_points`` (number of access points
        considered: those within ``max_snap_m`` of the network).

    Raises
    ------
    InputError
        When ``used`` does not have one value per compound.
    """
    used = np.asarray(used, dtype=np.int64)
    if used.shape != (len(snapped),):
        raise InputError(
            f"used must have one value per compound ({len(snapped)}), got shape {used.shape}"
        )
    hit = used >= 0
    at = used[hit]
    kind = np.full(len(used), "", dtype=object)
    kind[hit] = snapped.kind[at]
    label = np.full(len(used), "", dtype=object)
    gate = snapped.gate[at]
    px, py = snapped.x[at], snapped.y[at]
    if x is not None and y is not None:
        ox = np.asarray(x, dtype=np.float64)[hit]
        oy = np.asarray(y, dtype=np.float64)[hit]
        other = np.isfinite(ox) & ((ox != px) | (oy != py))
        px, py = np.where(other, ox, px), np.where(other, oy, py)
        kind[np.flatnonzero(hit)[other]] = "point"
        gate = np.where(other, None, gate)
    is_gate = np.array([g is not None for g in gate], dtype=bool)
    # an access point's "lon,lat" is made once per snapped compounds (several services use
    # mostly the same ones), when first used
    made = snapped.derived(_LONLAT_TEXT, lambda: np.full(len(snapped.x), None, dtype=object))
    new = np.unique(at[made[at] == None])  # noqa: E711 (elementwise)
    if len(new):
        made[new] = _lonlat_text(snapped.crs, snapped.x[new], snapped.y[new])
    text = made[at]
    if x is not None and y is not None and other.any():
        text[other] = _lonlat_text(snapped.crs, px[other], py[other])
    label[hit] = np.where(is_gate, gate, text)
    return pd.DataFrame(
        {
            "access": kind,
            "access_rule": snapped.rule,
            "access_point": label,
            "access_points": np.bincount(snapped.owner, minlength=len(used)).astype(np.int64),
        }
    )


class _Key:
    """A weakly referenceable key of :meth:`SnappedPoints.derived` for products of its own."""


_LONLAT_TEXT = _Key()


def _lonlat_text(crs: pyproj.CRS | str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``"lon,lat"`` (6 decimals, WGS-84) of metric points, as an object array."""
    lon, lat = _transformer(crs, "EPSG:4326").transform(x, y)
    return np.array(
        [f"{a:.6f},{b:.6f}" for a, b in zip(np.atleast_1d(lon), np.atleast_1d(lat), strict=True)],
        dtype=object,
    )


def take_points(points: SnappedPoints, positions: np.ndarray) -> SnappedPoints:
    """The features at ``positions`` (in that order) of snapped points, without snapping again.

    Parameters
    ----------
    points
        Snapped points (any layer).
    positions
        Feature positions into ``points.ids``.

    Returns
    -------
    SnappedPoints
        The selected features with their access points.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd
    >>> from shapely import LineString, Point
    >>> nodes = pd.DataFrame({"node_id": [1, 2], "lon": [0.0, 0.001], "lat": [0.0, 0.0],
    ...                       "component": [0, 0]})
    >>> edges = gpd.GeoDataFrame({"u": [0], "v": [1], "length_m": [111.3], "highway": ["path"],
    ...     "access": [None], "private": [False], "way_id": [7]},
    ...     geometry=[LineString([(0, 0), (0.001, 0)])], crs="EPSG:4326")
    >>> net = WalkNetwork(nodes, edges, "EPSG:32631")
    >>> st = gpd.GeoDataFrame({"candidate_id": ["a", "far", "b"]},
    ...     geometry=[Point(0.0002, 0.0001), Point(0.0005, 0.01), Point(0.0008, 0.0)],
    ...     crs="EPSG:4326")
    >>> sub = take_points(snap_layer(st, net), np.array([2, 0]))
    >>> list(sub.ids), sub.owner.tolist(), sub.snapped.tolist()
    (['b', 'a'], [0, 1], [True, True])
    """
    positions = np.asarray(positions, dtype=np.int64)
    new_pos = np.full(len(points.ids), -1, dtype=np.int64)
    new_pos[positions] = np.arange(len(positions))
    mapped = new_pos[points.owner]
    keep = np.flatnonzero(mapped >= 0)
    keep = keep[np.argsort(mapped[keep], kind="stable")]
    return SnappedPoints(
        ids=points.ids.take(positions),
        id_column=points.id_column,
        snapped=points.snapped[positions].copy(),
        owner=mapped[keep],
        kind=points.kind[keep].copy(),
        edge=points.edge[keep].copy(),
        along_m=points.along_m[keep].copy(),
        access_m=points.access_m[keep].copy(),
        x=points.x[keep].copy(),
        y=points.y[keep].copy(),
        n_access_points=int(points.n_access_points),
        max_snap_m=points.max_snap_m,
        access=points.access,
        network_fingerprint=points.network_fingerprint,
        crs=points.crs,
        rule=points.rule[positions].copy(),
        gate=points.gate[keep].copy(),
        spans=_take_spans(points.spans, new_pos),
    )


def _take_spans(spans: OpenSpans, new_pos: np.ndarray) -> OpenSpans:
    """The stretches of the features kept (``new_pos``: -1 or the new position)."""
    mapped = new_pos[spans.owner]
    keep = np.flatnonzero(mapped >= 0)
    keep = keep[np.argsort(mapped[keep], kind="stable")]
    return spans.take(keep, mapped[keep])


def snap_study_compounds(
    study: Study,
    compounds: gpd.GeoDataFrame,
    network: WalkNetwork,
    *,
    entrances: gpd.GeoDataFrame | None = None,
) -> SnappedPoints:
    """Snap a study's compounds with the study's own access options.

    Every step that walks from compounds (``analyze``, the circles, siting, the batch) uses
    this, so they all enter compounds by the same rule (``access``, ``gate_tolerance_m``,
    ``gate_link_m``, ``max_snap_m``) and their numbers agree.

    Parameters
    ----------
    study
        The study (its access and snapping options).
    compounds
        The compound layer.
    network
        The walk network.
    entrances
        OSM entrances and gates (see :func:`snap_compounds`).

    Returns
    -------
    SnappedPoints
    """
    return snap_compounds(
        compounds,
        network,
        entrances=entrances,
        max_snap_m=study.max_snap_m,
        access=study.access,
        gate_tolerance_m=study.gate_tolerance_m,
        gate_link_m=study.gate_link_m,
    )
