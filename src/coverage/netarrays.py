"""The walk network as arrays: the edge index for snapping and the graph layout for Dijkstra.

Both are derived from a :class:`~coverage.walknetwork.WalkNetwork` once and kept on it
(:attr:`WalkNetwork.edge_index <coverage.walknetwork.WalkNetwork.edge_index>`,
:attr:`WalkNetwork.layout <coverage.walknetwork.WalkNetwork.layout>`); the network's tables
cannot change after it is made, so neither can go stale.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from coverage.edgesearch import (
    EdgeGrid,
    EdgeLines,
    EdgeSearch,
    build_edge_grid,
    nearest_piece_bound,
)

__all__ = [
    "LAYOUT_CELL_M",
    "PIECE_M",
    "EdgeIndex",
    "GraphLayout",
    "build_edge_index",
    "build_graph_layout",
    "morton_key",
]

log = logging.getLogger(__name__)

PIECE_M = 25.0
"""Edge segments are cut into pieces at most this long for the nearest-edge search."""

_REMADE = ("geoms", "tree", "search")
"""Derived attributes of :class:`EdgeIndex` that are not pickled (remade on use)."""

LAYOUT_CELL_M = 50.0
"""Grid cell (metres) of the Z-order that numbers the graph's nodes (:class:`GraphLayout`)."""


def morton_key(x: np.ndarray, y: np.ndarray, cell: float) -> np.ndarray:
    """Return the Z-order key of points on a grid of ``cell`` metres (16 bits per axis, wrapping).

    Parameters
    ----------
    x, y
        Metric coordinates.
    cell
        Grid cell size in the coordinates' units.

    Returns
    -------
    numpy.ndarray
        int64 keys; sorting by them puts nearby points next to each other.
    """
    if len(x) == 0:
        return np.empty(0, dtype=np.int64)

    def spread(v: np.ndarray) -> np.ndarray:
        v = v & 0xFFFF
        v = (v | (v << 8)) & 0x00FF00FF
        v = (v | (v << 4)) & 0x0F0F0F0F
        v = (v | (v << 2)) & 0x33333333
        return (v | (v << 1)) & 0x55555555

    ix = ((x - x.min()) / cell).astype(np.int64)
    iy = ((y - y.min()) / cell).astype(np.int64)
    return spread(ix) | (spread(iy) << 1)


@dataclass(frozen=True, eq=False)
class EdgeIndex:
    """The network's edges in its metric CRS with a spatial index, built once per network.

    Nearest-edge search works on the edges' straight segments. Every segment is cut into
    pieces at most :data:`PIECE_M` long and a KD-tree holds the pieces' midpoints. For a point,
    the segments of the nearest midpoints are measured exactly; the result is certified exact
    when the best distance is at most (distance to the farthest midpoint examined) minus half a
    piece, since every point of a piece lies within half a piece of its midpoint. Points without
    that certificate are measured against every piece within (best distance + half a piece).
    This finds the same edge as a brute-force search over all edges (ties aside) at a fraction
    of the cost of ``STRtree.query_nearest`` on whole LineStrings.

    Attributes
    ----------
    crs
        The network's local metric CRS.
    u, v
        End node indices of every edge.
    length_m
        ``length_m`` of every edge.
    coords
        Vertices of all edges in ``crs``, edge after edge (``(V, 2)``).
    first
        Edge ``i``'s vertices are ``coords[first[i]:first[i + 1]]``.
    proj_len
        Length of every edge in ``crs``.
    seg_start
        Index into ``coords`` of every segment's first vertex (the second is the next one).
    seg_edge
        Edge of every segment.
    seg_offset
        Distance in ``crs`` from the edge's start to the segment's start.
    piece_seg
        Segment of every piece (the KD-tree's points are the pieces' midpoints).
    half_piece
        Half the longest piece: the largest distance from a piece's midpoint to its points.
    kdtree
        ``scipy.spatial.cKDTree`` over the pieces' midpoints.
    """

    crs: str
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray
    coords: np.ndarray
    first: np.ndarray
    proj_len: np.ndarray
    seg_start: np.ndarray
    seg_edge: np.ndarray
    seg_offset: np.ndarray
    piece_seg: np.ndarray
    half_piece: float
    kdtree: cKDTree

    def __getstate__(self) -> dict[str, object]:
        # the shapely geometries, the STRtree and the search (LineStrings made on demand) are
        # remade on use; the edge grid (plain arrays) is kept
        return {k: v for k, v in self.__dict__.items() if k not in _REMADE}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    @cached_property
    def walkable(self) -> np.ndarray:
        """Indices of the edges points may snap onto: every edge with a geometry.

        The network builder already applied the walk filter, so every edge is walkable
        (``private`` ones too: residents walk inside their compound, and many stations stand
        inside one).
        """
        # an edge has a segment exactly when it has two vertices or more (O(edges), where
        # ``np.unique(seg_edge)`` sorted millions of segments)
        return np.flatnonzero(np.diff(self.first) >= 2)

    @cached_property
    def geoms(self) -> np.ndarray:
        """Edge LineStrings in ``crs`` (None for an edge without geometry)."""
        out = np.full(len(self.u), None, dtype=object)
        counts = np.diff(self.first)
        has = counts >= 2
        keep = np.repeat(has, counts)
        if keep.any():
            dense = np.repeat(np.arange(int(has.sum())), counts[has])
            out[has] = shapely.linestrings(self.coords[keep], indices=dense)
        return out

    @cached_property
    def tree(self) -> shapely.STRtree:
        """STRtree over ``geoms[walkable]`` (makes every LineString: the library itself uses
        :attr:`search`, which answers the same queries)."""
        return shapely.STRtree(self.geoms[self.walkable])

    @cached_property
    def edge_grid(self) -> EdgeGrid:
        """Grid over the bounding boxes of the ``walkable`` edges, with their ``STRtree``
        order (kept in the network cache)."""
        return build_edge_grid(self.coords, self.first, self.walkable)

    @cached_property
    def search(self) -> EdgeSearch:
        """The queries of ``STRtree(geoms[walkable])`` without making every LineString.

        Its ``geometries`` stand for ``geoms[walkable]`` (made when asked for); used for
        polygon compounds and gates (:mod:`coverage.access`) and the streets of the walk-time
        circles (:mod:`coverage.isochrones`). See
        :class:`coverage.edgesearch.EdgeSearch`.
        """
        lines = EdgeLines(self.coords, self.first, self.walkable)
        if "geoms" in self.__dict__:  # every LineString made already: reuse them
            lines.adopt(self.geoms[self.walkable])
        return EdgeSearch(self.edge_grid, lines, nearest_piece_bound(self.kdtree))

    @cached_property
    def fingerprint(self) -> str:
        """A checksum of the CRS and of the edges' end nodes and lengths.

        Tells whether snapped points belong to this network
        (:meth:`coverage.snap.SnappedPoints.check_network`).
        """
        crc = zlib.crc32(self.crs.encode())
        for arr in (self.u, self.v, self.length_m):
            crc = zlib.crc32(np.ascontiguousarray(arr).tobytes(), crc)
        return f"{len(self.u)}:{crc:08x}"


def build_edge_index(edges: gpd.GeoDataFrame, crs: str) -> EdgeIndex:
    """Project the edges into ``crs`` and index their segments.

    Parameters
    ----------
    edges
        The network's edge table (``u``, ``v``, ``length_m``, LineString ``geometry``).
    crs
        The network's local metric CRS.

    Returns
    -------
    EdgeIndex
    """
    m = len(edges)
    geo = np.asarray(edges.geometry.values, dtype=object)
    lonlat, owner = shapely.get_coordinates(geo, return_index=True)
    to_metric = pyproj.Transformer.from_crs(edges.crs or "EPSG:4326", crs, always_xy=True)
    x, y = to_metric.transform(lonlat[:, 0], lonlat[:, 1])
    coords = np.column_stack([x, y]).astype(np.float64)
    counts = np.bincount(owner, minlength=m)
    first = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    seg_start = np.flatnonzero(owner[1:] == owner[:-1]) if len(owner) else np.empty(0, np.int64)
    seg_edge = owner[seg_start]
    d = coords[seg_start + 1] - coords[seg_start]
    seg_len = np.hypot(d[:, 0], d[:, 1])
    proj_len = np.bincount(seg_edge, weights=seg_len, minlength=m)
    # offset of each segment from its edge's start: running sum within the edge
    run = np.cumsum(seg_len) - seg_len
    edge_first_seg = np.r_[True, seg_edge[1:] != seg_edge[:-1]] if len(seg_edge) else seg_edge
    base = np.maximum.accumulate(np.where(edge_first_seg, np.arange(len(run)), 0))
    seg_offset = run - run[base] if len(run) else run
    n_piece = np.maximum(1, np.ceil(seg_len / PIECE_M)).astype(np.int64)
    seg_type = np.int32 if len(seg_start) < np.iinfo(np.int32).max else np.int64
    piece_seg = np.repeat(np.arange(len(seg_start), dtype=seg_type), n_piece)
    k = np.arange(len(piece_seg)) - np.repeat(np.cumsum(n_piece) - n_piece, n_piece)
    frac = (k + 0.5) / n_piece[piece_seg]
    mids = coords[seg_start[piece_seg]] + d[piece_seg] * frac[:, None]
    half = float((seg_len / (2 * n_piece)).max()) if len(seg_len) else 0.0
    index = EdgeIndex(
        crs=crs,
        u=edges["u"].to_numpy(dtype=np.int64),
        v=edges["v"].to_numpy(dtype=np.int64),
        length_m=edges["length_m"].to_numpy(dtype=np.float64),
        coords=coords,
        first=first,
        proj_len=proj_len,
        seg_start=seg_start,
        seg_edge=seg_edge,
        seg_offset=seg_offset,
        piece_seg=piece_seg,
        half_piece=half,
        # sliding-midpoint tree: builds about twice as fast as a balanced one on millions of
        # pieces, and queries as fast
        kdtree=cKDTree(mids if len(mids) else np.zeros((0, 2)), balanced_tree=False),
    )
    log.debug("indexed %d edges: %d segments, %d pieces", m, len(seg_start), len(piece_seg))
    return index


@dataclass(frozen=True, eq=False)
class GraphLayout:
    """The profile-independent part of every travel graph of a network (built once).

    Attributes
    ----------
    rank
        CSR row of every node index: nodes renumbered in a Z-order of their coordinates
        (:data:`LAYOUT_CELL_M` cells), which keeps Dijkstra's memory accesses local.
    node_x, node_y
        Metric node coordinates, in ``rank`` order.
    indptr, indices
        CSR structure: both directions of every edge, no self-loops, one arc per node pair.
    arc_edge
        Edge of every directed arc, sorted by (row, column).
    pair_start
        First arc of every (row, column) pair in ``arc_edge``.
    length_m
        ``length_m`` of every edge.
    highways
        Distinct ``highway`` values.
    highway_code
        Per edge: position in ``highways``, -1 when missing.
    stretch
        ``max(1, largest ratio of an edge's projected length to its length_m)``.
    """

    rank: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    arc_edge: np.ndarray
    pair_start: np.ndarray
    length_m: np.ndarray
    highways: list[str]
    highway_code: np.ndarray
    stretch: float


def build_graph_layout(
    nodes: pd.DataFrame, edges: pd.DataFrame, crs: str, *, proj_len: np.ndarray
) -> GraphLayout:
    """Number the nodes in Z-order and lay out the CSR structure of both edge directions.

    Parameters
    ----------
    nodes
        The network's node table (``lon``, ``lat``).
    edges
        The network's edge table (``u``, ``v``, ``length_m``, ``highway``).
    crs
        The network's local metric CRS.
    proj_len
        Every edge's length in ``crs`` (:attr:`EdgeIndex.proj_len`), for the stretch bound.

    Returns
    -------
    GraphLayout
    """
    n = len(nodes)
    u = edges["u"].to_numpy(dtype=np.int64)
    v = edges["v"].to_numpy(dtype=np.int64)
    length = edges["length_m"].to_numpy(dtype=np.float64)
    codes, uniques = pd.factorize(edges["highway"], use_na_sentinel=True)

    to_metric = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_metric.transform(
        nodes["lon"].to_numpy(dtype=np.float64), nodes["lat"].to_numpy(dtype=np.float64)
    )
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    perm = np.argsort(morton_key(x, y, LAYOUT_CELL_M), kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[perm] = np.arange(n)
    ru, rv = rank[u], rank[v]

    # both directions, no self-loops; arcs sorted by (row, column)
    keep = np.flatnonzero(ru != rv)
    rows = np.concatenate([ru[keep], rv[keep]])
    cols = np.concatenate([rv[keep], ru[keep]])
    arc_edge = np.concatenate([keep, keep])
    order = np.argsort(rows * max(n, 1) + cols, kind="stable")
    rows, cols, arc_edge = rows[order], cols[order], arc_edge[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    pair_start = np.flatnonzero(first)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[pair_start], minlength=n), out=indptr[1:])
    itype = np.int32 if max(n, len(pair_start)) < np.iinfo(np.int32).max else np.int64

    ratio = proj_len[length > 0] / length[length > 0]
    return GraphLayout(
        rank=rank,
        node_x=x[perm],
        node_y=y[perm],
        indptr=indptr.astype(itype),
        indices=cols[pair_start].astype(itype),
        arc_edge=arc_edge,
        pair_start=pair_start,
        length_m=length,
        highways=[str(h) for h in uniques],
        highway_code=codes,
        stretch=float(max(1.0, np.nanmax(ratio) if len(ratio) else 1.0)),
    )
