"""Box queries on a grid index against a brute-force scan of the points."""

from __future__ import annotations

import numpy as np
import pytest

from coverage.gridindex import MAX_CELLS, grid_cell_m, grid_index


def _brute(x: np.ndarray, y: np.ndarray, boxes: np.ndarray) -> set[int]:
    inside = np.zeros(len(x), dtype=bool)
    for xmin, ymin, xmax, ymax in boxes:
        inside |= (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
    return set(np.flatnonzero(inside).tolist())


@pytest.mark.parametrize("cell", [7.0, 50.0, 1000.0])
def test_boxes_hold_every_point_inside_and_only_points_of_touched_cells(cell: float) -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(-500, 2500, 4000)
    y = rng.uniform(100, 900, 4000)
    g = grid_index(x, y, cell=cell)
    for _ in range(30):
        k = int(rng.integers(1, 6))
        lo = np.c_[rng.uniform(-700, 2600, k), rng.uniform(0, 1000, k)]
        size = rng.uniform(0, 400, (k, 2))
        boxes = np.c_[lo, lo + size]
        got = g.in_boxes(*boxes.T)
        assert np.all(np.diff(got) > 0)  # ascending, each once
        assert _brute(x, y, boxes) <= set(got.tolist())
        # boxes within the points' extent: nothing farther than one cell outside a box
        # (a box beyond the extent is clamped to the border cells)
        inner = np.c_[np.clip(boxes[:, :2], [x.min(), y.min()], None), boxes[:, 2:]]
        inner = np.c_[inner[:, :2], np.clip(boxes[:, 2:], None, [x.max(), y.max()])]
        inner = inner[(inner[:, 0] <= inner[:, 2]) & (inner[:, 1] <= inner[:, 3])]
        grown = inner + np.array([-cell, -cell, cell, cell])
        assert set(g.in_boxes(*inner.T).tolist()) <= _brute(x, y, grown)
        if k == 1:
            np.testing.assert_array_equal(g.in_box(*boxes[0]), got)


def test_like_uses_the_same_cells_and_clamps_points_outside() -> None:
    g = grid_index(np.array([0.0, 100.0]), np.array([0.0, 100.0]), cell=10.0)
    h = grid_index(np.array([-50.0, 55.0, 500.0]), np.array([0.0, 55.0, 500.0]), cell=1.0, like=g)
    assert (h.cell, h.nx, h.ny, h.x0, h.y0) == (g.cell, g.nx, g.ny, g.x0, g.y0)
    assert h.in_box(50.0, 50.0, 59.0, 59.0).tolist() == [1]
    assert h.in_box(90.0, 90.0, 100.0, 100.0).tolist() == [2]  # clamped into the last cell


def test_empty_and_huge_extents() -> None:
    empty = grid_index(np.zeros(0), np.zeros(0), cell=5.0)
    assert empty.in_box(0, 0, 1, 1).tolist() == []
    far = grid_index(np.array([0.0, 1e7]), np.array([0.0, 1e7]), cell=1.0)
    assert far.nx * far.ny <= MAX_CELLS
    assert far.in_box(-1, -1, 1, 1).tolist() == [0]
    assert grid_cell_m(600.0) == 512.0 and grid_cell_m(1.0) == 1.0
