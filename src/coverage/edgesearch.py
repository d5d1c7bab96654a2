"""Spatial queries on the walk network's edges without making a million LineStrings.

The access rules of polygon compounds (:mod:`coverage.access`) ask an ``STRtree`` of every
walkable edge which edges meet a compound's boundary, lie within a distance of a piece of it,
or are nearest to it. Making the LineStrings of a million edges and their ``STRtree`` took
most of the time of snapping a city's compounds, while the queries touch a small share of the
edges. :class:`EdgeSearch` answers the same queries from the edge index's arrays: a grid over
the edges' bounding boxes finds the candidates, LineStrings are made only for those (and kept),
and the exact predicate or distance is computed by GEOS on them, as the ``STRtree`` does.

The results are those of ``shapely.STRtree(lines)`` in the same order: an ``STRtree`` query
visits its leaves depth first in one fixed order that depends only on the edges' bounding
boxes, so the tree's answer for any query is its matches sorted by their position in that
order (:func:`strtree_leaf_rank`, found once by querying an ``STRtree`` of the boxes with a box
around everything). The one difference: among edges *exactly* equally near a geometry,
:meth:`EdgeSearch.query_nearest` with ``all_matches=False`` returns the first in that order
(the ``STRtree`` returns an arbitrary one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree

__all__ = [
    "EDGE_CELL_M",
    "EdgeGrid",
    "EdgeLines",
    "EdgeSearch",
    "build_edge_grid",
    "edge_bounds",
    "nearest_piece_bound",
    "strtree_leaf_rank",
]

EDGE_CELL_M = 128.0
"""Cell size (metres) of the grid over the edges' bounding boxes."""

_MAX_CELLS = 4_000_000
"""At most this many grid cells (the cell grows when the extent would need more)."""

_CHUNK = 4_000_000
"""Candidate (query, edge) entries examined at once (bounds the memory of a large query)."""


def edge_bounds(
    coords: np.ndarray, first: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bounding boxes of edges from their vertices (exactly their LineStrings' envelopes).

    Parameters
    ----------
    coords
        Vertices of all edges, edge after edge (``(V, 2)``).
    first
        Edge ``i``'s vertices are ``coords[first[i]:first[i + 1]]``.
    edges
        The edges (each with at least one vertex).

    Returns
    -------
    tuple of numpy.ndarray
        ``xmin, ymin, xmax, ymax``, one value per edge of ``edges``.
    """
    if len(edges) == 0:
        empty = np.empty(0)
        return empty, empty, empty, empty
    # reduce over [start, end) of every edge: interleaved bounds, sentinel row at the end
    at = np.column_stack([first[edges], first[edges + 1]]).ravel()
    padded = np.vstack([coords, np.zeros((1, 2))])
    out = []
    for ufunc in (np.minimum, np.maximum):
        for axis in (0, 1):
            out.append(ufunc.reduceat(padded[:, axis], at)[::2])
    return out[0], out[1], out[2], out[3]


def strtree_leaf_rank(
    xmin: np.ndarray, ymin: np.ndarray, xmax: np.ndarray, ymax: np.ndarray
) -> np.ndarray:
    """Position of every box in the leaf order of ``shapely.STRtree`` (default node capacity).

    An ``STRtree`` of geometries with these envelopes returns the matches of any query in this
    order (it visits its nodes depth first, children in order); the order depends only on the
    envelopes.

    Parameters
    ----------
    xmin, ymin, xmax, ymax
        The boxes (the geometries' envelopes), in tree-index order.

    Returns
    -------
    numpy.ndarray
        int64 rank of every box.

    Examples
    --------
    >>> lines = shapely.linestrings([[(0, 0), (1, 1)], [(5, 0), (6, 2)], [(2, 2), (3, 0)]])
    >>> x0, y0, x1, y1 = shapely.bounds(lines).T
    >>> rank = strtree_leaf_rank(x0, y0, x1, y1)
    >>> tree = shapely.STRtree(lines)
    >>> bool((np.argsort(rank) == tree.query(shapely.box(-1, -1, 9, 9))).all())
    True
    """
    n = len(xmin)
    rank = np.arange(n, dtype=np.int64)
    if n < 2:
        return rank
    tree = shapely.STRtree(shapely.box(xmin, ymin, xmax, ymax))
    span = (float(xmin.min()) - 1.0, float(ymin.min()) - 1.0)
    order = tree.query(shapely.box(*span, float(xmax.max()) + 1.0, float(ymax.max()) + 1.0))
    rank[order] = np.arange(n, dtype=np.int64)
    return rank


@dataclass(frozen=True, eq=False)
class EdgeGrid:
    """Edges bucketed by every cell of a square grid their bounding box touches.

    Plain arrays (pickles; kept in the network cache with the edge index). Made by
    :func:`build_edge_grid`.

    Attributes
    ----------
    x0, y0
        Lower-left corner of cell ``(0, 0)``.
    cell
        Cell size (metres).
    nx, ny
        Number of cells along x and y.
    xmin, ymin, xmax, ymax
        Bounding box of every edge (position ``p`` is the ``p``-th indexed edge).
    start
        ``nx * ny + 1`` values: the entries of cell ``k`` are ``start[k]:start[k + 1]``.
    entry
        Edge position of every entry, sorted by cell (ascending within a cell).
    entry_cell
        Cell of every entry.
    rank
        Every edge's position in the leaf order of an ``STRtree`` of the edges
        (:func:`strtree_leaf_rank`).
    """

    x0: float
    y0: float
    cell: float
    nx: int
    ny: int
    xmin: np.ndarray
    ymin: np.ndarray
    xmax: np.ndarray
    ymax: np.ndarray
    start: np.ndarray
    entry: np.ndarray
    entry_cell: np.ndarray
    rank: np.ndarray

    def _col(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((x - self.x0) / self.cell), 0, self.nx - 1).astype(np.int64)

    def _row(self, y: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((y - self.y0) / self.cell), 0, self.ny - 1).astype(np.int64)

    def box_pairs(
        self, qx0: np.ndarray, qy0: np.ndarray, qx1: np.ndarray, qy1: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every (box, edge) pair whose boxes intersect (boundaries included), once.

        Parameters
        ----------
        qx0, qy0, qx1, qy1
            The query boxes (NaN: no box).

        Returns
        -------
        tuple of numpy.ndarray
            Box positions (ascending) and edge positions; within one box the edges follow
            :attr:`rank`, the order an ``STRtree`` of the edges gives.

        Examples
        --------
        >>> lines = shapely.linestrings([[(0, 0), (1, 1)], [(500, 0), (600, 2)]])
        >>> coords, owner = shapely.get_coordinates(lines, return_index=True)
        >>> grid = build_edge_grid(coords, np.array([0, 2, 4]), np.array([0, 1]))
        >>> x = np.array([0.5, 550.0])  # two boxes, each a point
        >>> q, e = grid.box_pairs(x, np.array([0.5, 1.0]), x, np.array([0.5, 1.0]))
        >>> q.tolist(), e.tolist()
        ([0, 1], [0, 1])
        """
        empty = np.empty(0, dtype=np.int64)
        valid = np.isfinite(qx0) & np.isfinite(qy0) & np.isfinite(qx1) & np.isfinite(qy1)
        valid &= (qx1 >= qx0) & (qy1 >= qy0)
        live = np.flatnonzero(valid)
        if len(self.entry) == 0 or len(live) == 0:
            return empty, empty
        c0, c1 = self._col(qx0[live]), self._col(qx1[live])
        r0, r1 = self._row(qy0[live]), self._row(qy1[live])
        rows = r1 - r0 + 1
        sel = np.repeat(np.arange(len(live)), rows)
        row = np.arange(len(sel)) - np.repeat(np.cumsum(rows) - rows, rows) + r0[sel]
        lo = self.start[row * self.nx + c0[sel]]
        counts = self.start[row * self.nx + c1[sel] + 1] - lo
        # in chunks of whole query rows, to bound the memory of many large boxes
        total = np.cumsum(counts)
        cuts = np.searchsorted(total, np.arange(_CHUNK, int(total[-1]), _CHUNK), side="left")
        out_q, out_e = [], []
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(sel)], strict=True):
            if b <= a:
                continue
            cnt = counts[a:b]
            n = int(cnt.sum())
            pos = np.repeat(lo[a:b] - (np.cumsum(cnt) - cnt), cnt) + np.arange(n)
            s = np.repeat(sel[a:b], cnt)
            e = self.entry[pos]
            q = live[s]
            hit = (self.xmin[e] <= qx1[q]) & (self.xmax[e] >= qx0[q])
            hit &= (self.ymin[e] <= qy1[q]) & (self.ymax[e] >= qy0[q])
            # each pair once: in the cell holding the lower-left corner of the boxes' overlap
            ref = np.maximum(r0[s], self._row(self.ymin[e])) * self.nx
            ref += np.maximum(c0[s], self._col(self.xmin[e]))
            hit &= self.entry_cell[pos] == ref
            out_q.append(q[hit])
            out_e.append(e[hit])
        q, e = np.concatenate(out_q), np.concatenate(out_e)
        order = np.lexsort((self.rank[e], q))
        return q[order], e[order]


def build_edge_grid(
    coords: np.ndarray, first: np.ndarray, edges: np.ndarray, *, cell: float = EDGE_CELL_M
) -> EdgeGrid:
    """Bucket edges by the grid cells their bounding boxes touch.

    Parameters
    ----------
    coords, first
        Vertices of all edges and where each edge's start (see
        :class:`coverage.netarrays.EdgeIndex`).
    edges
        The edges to index (each with two vertices or more); position ``p`` of the grid is
        edge ``edges[p]``.
    cell
        Wanted cell size (metres; grows when the extent would need more than 4 million cells).

    Returns
    -------
    EdgeGrid
    """
    xmin, ymin, xmax, ymax = edge_bounds(coords, first, edges)
    n = len(edges)
    if n == 0:
        zero = np.zeros(1, dtype=np.int64)
        none = np.empty(0, dtype=np.int64)
        return EdgeGrid(0.0, 0.0, cell, 0, 0, xmin, ymin, xmax, ymax, zero, none, none, none)
    x0, y0 = float(xmin.min()), float(ymin.min())
    w, h = float(xmax.max()) - x0, float(ymax.max()) - y0
    while (w / cell + 1) * (h / cell + 1) > _MAX_CELLS:
        cell *= 2.0
    nx, ny = int(w // cell) + 1, int(h // cell) + 1
    grid = EdgeGrid(x0, y0, cell, nx, ny, xmin, ymin, xmax, ymax, *(np.empty(0),) * 4)
    c0, c1, r0, r1 = grid._col(xmin), grid._col(xmax), grid._row(ymin), grid._row(ymax)
    ncol = c1 - c0 + 1
    count = ncol * (r1 - r0 + 1)
    owner = np.repeat(np.arange(n, dtype=np.int64), count)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    cells = (r0[owner] + k // ncol[owner]) * nx + c0[owner] + k % ncol[owner]
    order = np.argsort(cells, kind="stable")
    start = np.zeros(nx * ny + 1, dtype=np.int64)
    np.cumsum(np.bincount(cells, minlength=nx * ny), out=start[1:])
    itype = np.int32 if n < np.iinfo(np.int32).max else np.int64
    return EdgeGrid(
        x0=x0,
        y0=y0,
        cell=cell,
        nx=nx,
        ny=ny,
        xmin=xmin,
        ymin=ymin,
        xmax=xmax,
        ymax=ymax,
        start=start,
        entry=owner[order].astype(itype),
        entry_cell=cells[order].astype(np.int32),  # at most _MAX_CELLS cells
        rank=strtree_leaf_rank(xmin, ymin, xmax, ymax).astype(itype),
    )


class EdgeLines:
    """The LineStrings of the indexed edges, made when first asked for and then kept.

    Behaves as the object array of all of them for ``len`` and indexing (an int, a slice,
    an integer or boolean array); ``numpy.asarray`` makes every one.
    """

    def __init__(self, coords: np.ndarray, first: np.ndarray, edges: np.ndarray) -> None:
        self._coords = coords
        self._first = first
        self._edges = edges
        self._lines = np.full(len(edges), None, dtype=object)
        self._have = np.zeros(len(edges), dtype=bool)

    def __len__(self) -> int:
        return len(self._edges)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            return self.take(np.array([key], dtype=np.int64))[0]
        return self.take(np.arange(len(self._edges))[key])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.take(np.arange(len(self._edges)))
        return out if dtype is None else out.astype(dtype)

    def adopt(self, lines: np.ndarray) -> None:
        """Use already made LineStrings of every edge (in position order).

        Parameters
        ----------
        lines
            One LineString per indexed edge.
        """
        self._lines[:] = lines
        self._have[:] = True

    def take(self, positions: np.ndarray) -> np.ndarray:
        """Return the LineStrings at ``positions`` (an object array, same shape).

        Parameters
        ----------
        positions
            Integer positions.

        Returns
        -------
        numpy.ndarray
        """
        positions = np.asarray(positions, dtype=np.int64)
        missing = positions[~self._have[positions]]
        if len(missing):
            missing = np.unique(missing)
            edge = self._edges[missing]
            lo, hi = self._first[edge], self._first[edge + 1]
            cnt = hi - lo
            at = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))
            self._lines[missing] = shapely.linestrings(
                self._coords[at], indices=np.repeat(np.arange(len(missing)), cnt)
            )
            self._have[missing] = True
        return self._lines[positions]


class EdgeSearch:
    """Answers ``shapely.STRtree(lines)`` queries over the indexed edges' LineStrings.

    ``query`` and ``query_nearest`` take the arguments of ``shapely.STRtree``'s methods and
    return the same results in the same order (see the module docstring for exact ties of
    ``query_nearest``); ``geometries`` is the :class:`EdgeLines` of the edges.

    Parameters
    ----------
    grid
        The edges' grid (:func:`build_edge_grid`).
    lines
        Their LineStrings.
    upper_bound
        For ``(n, 2)`` points: per point, a distance within which some edge lies (or inf).
    """

    def __init__(
        self,
        grid: EdgeGrid,
        lines: EdgeLines,
        upper_bound: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        self.grid = grid
        self.geometries = lines
        self._upper_bound = upper_bound

    def __len__(self) -> int:
        return len(self.geometries)

    def _pairs(self, geoms: np.ndarray, distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x0, y0, x1, y1 = shapely.bounds(geoms).T
        return self.grid.box_pairs(x0 - distance, y0 - distance, x1 + distance, y1 + distance)

    def query(self, geometry: Any, predicate: str | None = None, distance: Any = None) -> Any:
        """Tree indices of the edges matching ``geometry`` (as ``STRtree.query``).

        Parameters
        ----------
        geometry
            A geometry or an array of them.
        predicate
            None (bounding boxes intersect) or a binary predicate of shapely
            (``"intersects"``, ``"dwithin"``, ``"contains"`` ...), evaluated as
            ``predicate(geometry, edge)``.
        distance
            For ``"dwithin"``: the distance (a number or one per geometry).

        Returns
        -------
        numpy.ndarray
            For an array: ``(2, n)`` input and tree indices; for one geometry: tree indices.
        """
        scalar = np.ndim(geometry) == 0
        geoms = np.atleast_1d(np.asarray(geometry, dtype=object))
        if predicate == "dwithin":
            if distance is None:
                raise ValueError("distance is required for the 'dwithin' predicate")
            reach = np.broadcast_to(np.asarray(distance, dtype=np.float64), geoms.shape)
        else:
            reach = np.zeros(len(geoms))
        q, e = self._pairs(geoms, reach)
        if predicate is not None and len(q):
            test = getattr(shapely, predicate)
            lines = self.geometries.take(e)
            extra = (reach[q],) if predicate == "dwithin" else ()
            # as the STRtree does: the predicate of the prepared query geometry (which differs
            # at the edges, e.g. dwithin of a zero-length line), prepared on exact copies so
            # that the caller's geometries stay as they were (and other threads' too)
            used, at = np.unique(q, return_inverse=True)
            probe = shapely.from_wkb(shapely.to_wkb(geoms[used]))
            shapely.prepare(probe)
            hit = test(probe[at.reshape(-1)], lines, *extra)
            q, e = q[hit], e[hit]
        return e if scalar else np.vstack([q, e])

    def query_nearest(
        self,
        geometry: Any,
        max_distance: float | None = None,
        return_distance: bool = False,
        exclusive: bool = False,
        all_matches: bool = True,
    ) -> Any:
        """The nearest edges to each geometry (as ``STRtree.query_nearest``).

        Parameters
        ----------
        geometry
            A geometry or an array of them.
        max_distance
            Only edges within this distance.
        return_distance
            Also return the distances.
        exclusive
            Leave out edges equal to the geometry.
        all_matches
            Every edge at the least distance, else one (the first in the tree's order).

        Returns
        -------
        numpy.ndarray or tuple
            As ``STRtree.query_nearest``: indices (``(2, n)`` for an array), and distances.
        """
        scalar = np.ndim(geometry) == 0
        geoms = np.atleast_1d(np.asarray(geometry, dtype=object))
        xy, which = shapely.get_coordinates(geoms, return_index=True)
        reach = np.full(len(geoms), np.nan)
        if len(which):
            # every geometry lies within (distance from its first vertex to the network)
            one = np.r_[True, which[1:] != which[:-1]]
            reach[which[one]] = self._upper_bound(xy[one])
        if max_distance is not None:
            reach = np.minimum(reach, float(max_distance))
        q, e = self._pairs(geoms, np.where(np.isfinite(reach), reach, np.nan))
        d = shapely.distance(geoms[q], self.geometries.take(e)) if len(q) else np.empty(0)
        keep = d <= reach[q]
        if exclusive and len(q):
            keep &= ~shapely.equals(geoms[q], self.geometries.take(e))
        q, e, d = q[keep], e[keep], d[keep]
        if len(q):
            starts = np.r_[0, np.flatnonzero(q[1:] != q[:-1]) + 1]
            best = np.minimum.reduceat(d, starts)
            least = d == np.repeat(best, np.diff(np.r_[starts, len(q)]))
            q, e, d = q[least], e[least], d[least]
            if not all_matches:
                one = np.r_[True, q[1:] != q[:-1]]
                q, e, d = q[one], e[one], d[one]
        out = e if scalar else np.vstack([q, e])
        return (out, d) if return_distance else out


def nearest_piece_bound(kdtree: cKDTree) -> Callable[[np.ndarray], np.ndarray]:
    """An upper bound of points' distance to the network: their nearest piece midpoint's.

    Parameters
    ----------
    kdtree
        KD-tree of the edges' piece midpoints (see :class:`coverage.netarrays.EdgeIndex`);
        every midpoint lies on an edge.

    Returns
    -------
    callable
        ``f(xy) -> distances`` for ``(n, 2)`` points (inf when there is no edge).
    """

    def bound(xy: np.ndarray) -> np.ndarray:
        if kdtree.n == 0:
            return np.full(len(xy), np.inf)
        dist, _ = kdtree.query(xy)
        # a hair more than the midpoint's distance: the midpoint is on its segment only up to
        # rounding
        return np.asarray(dist, dtype=np.float64) * (1 + 1e-9) + 1e-9

    return bound
