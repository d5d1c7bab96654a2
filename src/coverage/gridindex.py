"""Points bucketed on a square grid: every point of a box in a few array slices.

The local searches of :mod:`coverage.travel` need, many times per study, the network nodes (and
the compounds' access points) inside a small box. A boolean mask over all nodes costs a pass
over the whole network per box; a :class:`GridIndex` sorts the points by grid cell once, so a
box costs one slice per row of cells it spans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_CELLS", "GridIndex", "grid_cell_m", "grid_index"]

MAX_CELLS = 4_000_000
"""At most this many grid cells (the cell grows when the extent would need more)."""


@dataclass(frozen=True, eq=False)
class GridIndex:
    """Point positions sorted by the cell of a square grid (row-major cells).

    Made by :func:`grid_index`; plain arrays, pickles.

    Attributes
    ----------
    x0, y0
        Lower-left corner of cell ``(0, 0)``.
    cell
        Cell size, in the coordinates' units.
    nx, ny
        Number of cells along x and y.
    order
        int64 positions of the points, sorted by cell (ascending positions within a cell).
    start
        int64, ``nx * ny + 1`` values: the points of cell ``k`` are
        ``order[start[k]:start[k + 1]]``.
    """

    x0: float
    y0: float
    cell: float
    nx: int
    ny: int
    order: np.ndarray
    start: np.ndarray

    def in_box(self, xmin: float, ymin: float, xmax: float, ymax: float) -> np.ndarray:
        """Return the positions of the points in the cells the box touches, ascending.

        A superset of the points inside the box (every point of a touched cell).

        Parameters
        ----------
        xmin, ymin, xmax, ymax
            The box.

        Returns
        -------
        numpy.ndarray
            int64 positions, sorted ascending.

        Examples
        --------
        >>> g = grid_index(np.array([0.0, 5.0, 50.0]), np.array([0.0, 5.0, 50.0]), cell=10.0)
        >>> g.in_box(-1.0, -1.0, 6.0, 6.0).tolist()
        [0, 1]
        """
        return self.in_boxes(*(np.array([v], dtype=np.float64) for v in (xmin, ymin, xmax, ymax)))

    def in_boxes(
        self, xmin: np.ndarray, ymin: np.ndarray, xmax: np.ndarray, ymax: np.ndarray
    ) -> np.ndarray:
        """Return the positions of the points in the cells any of the boxes touches, ascending.

        A superset of the points inside the boxes, each position once.

        Parameters
        ----------
        xmin, ymin, xmax, ymax
            The boxes, one value per box.

        Returns
        -------
        numpy.ndarray
            int64 positions, sorted ascending, unique.

        Examples
        --------
        >>> g = grid_index(np.array([0.0, 5.0, 50.0]), np.array([0.0, 5.0, 50.0]), cell=10.0)
        >>> g.in_boxes(np.array([-1.0, 45.0]), np.array([-1.0, 45.0]),
        ...            np.array([1.0, 55.0]), np.array([1.0, 55.0])).tolist()
        [0, 1, 2]
        """
        if self.nx == 0 or len(xmin) == 0:
            return np.empty(0, dtype=np.int64)
        c0 = self._cell(xmin, self.x0, self.nx)
        c1 = self._cell(xmax, self.x0, self.nx)
        r0 = self._cell(ymin, self.y0, self.ny)
        r1 = self._cell(ymax, self.y0, self.ny)
        rows = np.maximum(r1 - r0 + 1, 0)
        box = np.repeat(np.arange(len(rows)), rows)
        row = np.arange(len(box)) - np.repeat(np.cumsum(rows) - rows, rows) + r0[box]
        first = row * self.nx
        lo = self.start[first + c0[box]]
        hi = self.start[first + c1[box] + 1]
        counts = np.maximum(hi - lo, 0)
        total = int(counts.sum())
        pos = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(total)
        found = np.sort(self.order[pos])
        if len(xmin) == 1 or len(found) < 2:
            return found
        # boxes may share cells (np.unique's hashing is slower than this on sorted data)
        return found[np.r_[True, found[1:] != found[:-1]]]

    def _cell(self, v: np.ndarray, origin: float, n: int) -> np.ndarray:
        return np.clip(np.floor((v - origin) / self.cell), 0, n - 1).astype(np.int64)


def grid_cell_m(size: float) -> float:
    """Round a wanted cell size to a power of two (so similar sizes share one index).

    Parameters
    ----------
    size
        The wanted size (> 0).

    Returns
    -------
    float

    Examples
    --------
    >>> grid_cell_m(600.0)
    512.0
    """
    return float(2.0 ** round(math.log2(max(size, 1e-9))))


def grid_index(
    x: np.ndarray,
    y: np.ndarray,
    *,
    cell: float,
    like: GridIndex | None = None,
) -> GridIndex:
    """Bucket points on a square grid.

    Parameters
    ----------
    x, y
        Point coordinates (finite).
    cell
        Cell size (> 0); grown when the points' extent would need more than
        :data:`MAX_CELLS` cells.
    like
        Use this index's grid (corner, cell size and shape) instead: points outside it go
        to the nearest border cell.

    Returns
    -------
    GridIndex
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if like is not None:
        x0, y0, cell, nx, ny = like.x0, like.y0, like.cell, like.nx, like.ny
    elif len(x) == 0:
        x0 = y0 = 0.0
        nx = ny = 0
    else:
        x0, y0 = float(x.min()), float(y.min())
        span = max(float(x.max()) - x0, float(y.max()) - y0, 0.0)
        while (math.floor(span / cell) + 1) ** 2 > MAX_CELLS:
            cell *= 2.0
        nx = math.floor((float(x.max()) - x0) / cell) + 1
        ny = math.floor((float(y.max()) - y0) / cell) + 1
    if nx == 0 or len(x) == 0:
        empty = np.empty(0, dtype=np.int64)
        return GridIndex(x0, y0, cell, nx, ny, empty, np.zeros(nx * ny + 1, dtype=np.int64))
    cx = np.clip(np.floor((x - x0) / cell), 0, nx - 1).astype(np.int64)
    cy = np.clip(np.floor((y - y0) / cell), 0, ny - 1).astype(np.int64)
    key = cy * nx + cx
    order = np.argsort(key, kind="stable").astype(np.int64)
    start = np.zeros(nx * ny + 1, dtype=np.int64)
    np.cumsum(np.bincount(key, minlength=nx * ny), out=start[1:])
    return GridIndex(x0, y0, cell, nx, ny, order, start)
