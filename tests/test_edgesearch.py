"""EdgeSearch answers STRtree queries over the edges exactly as shapely.STRtree does."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.spatial import cKDTree

from coverage.edgesearch import (
    EdgeLines,
    EdgeSearch,
    build_edge_grid,
    edge_bounds,
    nearest_piece_bound,
)


def _network(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random polylines (short and a few long ones crossing many cells), a lattice (exact
    ties of distance everywhere), repeated edges, an edge of one vertex and a zero-length one."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(300):
        n = int(rng.integers(2, 6))
        start = rng.uniform(0, 1000, 2)
        parts.append(start + np.cumsum(rng.normal(0, 30, (n, 2)), axis=0))
    for _ in range(8):
        parts.append(rng.uniform(0, 1000, (2, 2)))
    for i in range(0, 1000, 100):  # lattice
        parts.append(np.array([[i, 0.0], [i, 1000.0]]))
        parts.append(np.array([[0.0, i], [1000.0, i]]))
    parts.append(parts[3].copy())  # repeated edges
    parts.append(parts[-2].copy())
    parts.append(np.array([[500.0, 500.0]]))  # one vertex: not indexed
    parts.append(np.array([[250.0, 250.0], [250.0, 250.0]]))  # zero length
    counts = np.array([len(p) for p in parts])
    first = np.r_[0, np.cumsum(counts)]
    coords = np.vstack(parts)
    walkable = np.flatnonzero(counts >= 2)
    return coords, first, walkable


def _search(seed: int, cell: float) -> tuple[EdgeSearch, np.ndarray]:
    coords, first, walkable = _network(seed)
    lines = np.array(
        [shapely.linestrings(coords[first[e] : first[e + 1]]) for e in walkable], dtype=object
    )
    grid = build_edge_grid(coords, first, walkable, cell=cell)
    # piece midpoints (as EdgeIndex's KD-tree): vertices and segment midpoints lie on edges
    mids = [coords[first[e] : first[e + 1]] for e in walkable]
    mids += [0.5 * (m[1:] + m[:-1]) for m in mids]
    search = EdgeSearch(
        grid, EdgeLines(coords, first, walkable), nearest_piece_bound(cKDTree(np.vstack(mids)))
    )
    return search, lines


def _queries(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 100)
    pts = shapely.points(rng.uniform(-50, 1050, (300, 2)))
    lattice_pts = shapely.points(np.array([[100.0, 150.0], [150.0, 150.0], [300.0, 300.0]]))
    polys = shapely.buffer(shapely.points(rng.uniform(0, 1000, (80, 2))), 40, quad_segs=2)
    boxes = shapely.box(*rng.uniform(0, 900, (2, 60)), *rng.uniform(100, 1000, (2, 60)))
    rings = shapely.boundary(polys[:30])
    pieces = shapely.linestrings(rng.uniform(0, 1000, (60, 2, 2)))
    return np.concatenate([pts, lattice_pts, polys, boxes, rings, pieces, [None]])


@pytest.mark.parametrize(("seed", "cell"), [(1, 128.0), (2, 16.0), (3, 2000.0)])
def test_query_matches_strtree_in_order(seed: int, cell: float) -> None:
    search, lines = _search(seed, cell)
    tree = shapely.STRtree(lines)
    geoms = _queries(seed)
    reach = np.random.default_rng(seed).uniform(0, 60, len(geoms))
    assert np.array_equal(search.query(geoms), tree.query(geoms))
    for predicate in ("intersects", "crosses", "contains", "within", "touches", "covers"):
        assert np.array_equal(
            search.query(geoms, predicate=predicate), tree.query(geoms, predicate=predicate)
        ), predicate
    for distance in (25.0, reach):
        assert np.array_equal(
            search.query(geoms, predicate="dwithin", distance=distance),
            tree.query(geoms, predicate="dwithin", distance=distance),
        )
    one = geoms[310]
    assert np.array_equal(search.query(one, predicate="intersects"), tree.query(one, "intersects"))


@pytest.mark.parametrize(("seed", "cell"), [(4, 128.0), (5, 16.0)])
def test_query_nearest_matches_strtree(seed: int, cell: float) -> None:
    search, lines = _search(seed, cell)
    tree = shapely.STRtree(lines)
    geoms = _queries(seed)
    for max_distance in (None, 20.0):
        (gi, gt), gd = search.query_nearest(
            geoms, max_distance=max_distance, return_distance=True, all_matches=True
        )
        (ti, tt), td = tree.query_nearest(
            geoms, max_distance=max_distance, return_distance=True, all_matches=True
        )
        # every edge at the least distance, the distances bit for bit (order of ties aside)
        assert sorted(zip(gi, gt, gd, strict=True)) == sorted(zip(ti, tt, td, strict=True))
        (oi, ot), od = search.query_nearest(
            geoms, max_distance=max_distance, return_distance=True, all_matches=False
        )
        (si, _st), sd = tree.query_nearest(
            geoms, max_distance=max_distance, return_distance=True, all_matches=False
        )
        assert np.array_equal(oi, si) and np.array_equal(od, sd)
        # the one returned is among the tree's nearest (ties: the first in the tree's order)
        nearest = set(zip(ti.tolist(), tt.tolist(), strict=True))
        assert all((i, t) in nearest for i, t in zip(oi.tolist(), ot.tolist(), strict=True))
    # ties exist in this network (lattice crossings, repeated edges), so the test means it
    assert len(ti) > len(np.unique(ti))
    # exclusive leaves out an equal geometry
    same = lines[5]
    assert 5 not in search.query_nearest(same, exclusive=True).tolist()
    assert search.query_nearest(same).tolist() == tree.query_nearest(same).tolist()


def test_edge_lines_behave_as_the_array() -> None:
    coords, first, walkable = _network(7)
    lines = EdgeLines(coords, first, walkable)
    full = np.array(
        [shapely.linestrings(coords[first[e] : first[e + 1]]) for e in walkable], dtype=object
    )
    assert len(lines) == len(full)
    pick = np.array([5, 2, 5, 40])
    assert all(shapely.equals_exact(lines[pick], full[pick], tolerance=0))
    assert shapely.equals_exact(lines[3], full[3], tolerance=0)
    mask = np.zeros(len(full), dtype=bool)
    mask[[1, 7]] = True
    assert all(shapely.equals_exact(lines[mask], full[mask], tolerance=0))
    assert all(shapely.equals_exact(np.asarray(lines), full, tolerance=0))
    assert all(shapely.equals_exact(lines[10:12], full[10:12], tolerance=0))


def test_edge_bounds_are_the_envelopes() -> None:
    coords, first, walkable = _network(8)
    got = np.column_stack(edge_bounds(coords, first, walkable))
    lines = shapely.linestrings(
        coords[np.concatenate([np.arange(first[e], first[e + 1]) for e in walkable])],
        indices=np.repeat(np.arange(len(walkable)), np.diff(first)[walkable]),
    )
    assert np.array_equal(got, shapely.bounds(lines))


@pytest.mark.parametrize("mode", ["auto", "entries", "open", "gates"])
def test_access_rules_same_through_the_search(mode: str) -> None:
    """The access points of polygons are the same, bit for bit, with the search as with an
    STRtree of every LineString (the lattice makes exact ties of distance common)."""
    from coverage.access import derive_access

    search, lines = _search(9, 128.0)
    rng = np.random.default_rng(9)
    centres = rng.uniform(50, 950, (60, 2))
    polys = shapely.buffer(shapely.points(centres), rng.uniform(10, 60, 60), quad_segs=3)
    polys[:10] = shapely.box(*(centres[:10] - 30).T, *(centres[:10] + 30).T)
    gates = shapely.points(shapely.get_coordinates(shapely.boundary(polys[::3]))[::7])
    labels = np.array([f"g{i}" for i in range(len(gates))], dtype=object)
    kw = {"gates": gates, "labels": labels, "mode": mode, "max_snap_m": 300.0}
    want = derive_access(polys, lines, tree=shapely.STRtree(lines), **kw)
    got = derive_access(polys, search.geometries, tree=search, **kw)  # type: ignore[arg-type]
    for field in ("owner", "kind", "x", "y", "gate", "rule"):
        assert np.array_equal(getattr(got, field), getattr(want, field)), field
    assert got.ignored_gates == want.ignored_gates
    assert len(want.x) > 0


def test_box_pairs_in_chunks_give_the_same_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many large boxes are examined in chunks of candidates: same pairs, same order."""
    import coverage.edgesearch as es

    search, _lines = _search(10, 64.0)
    geoms = _queries(10)
    whole = search.query(geoms, predicate="dwithin", distance=40.0)
    monkeypatch.setattr(es, "_CHUNK", 500)
    assert np.array_equal(search.query(geoms, predicate="dwithin", distance=40.0), whole)
    assert len(whole[0]) > 2000


def test_network_cache_keeps_the_edge_grid(tmp_path: object) -> None:
    import geopandas as gpd
    import pandas as pd

    from coverage.netcache import read_network, save_network
    from coverage.walknetwork import WalkNetwork

    nodes = pd.DataFrame(
        {"node_id": [1, 2, 3], "lon": [0.0, 0.001, 0.002], "lat": [0.0, 0.0, 0.001], "component": 0}
    )
    edges = gpd.GeoDataFrame(
        {
            "u": [0, 1],
            "v": [1, 2],
            "length_m": [111.3, 157.0],
            "highway": ["path", "footway"],
            "access": [None, None],
            "private": [False, False],
            "way_id": [7, 8],
        },
        geometry=[
            shapely.LineString([(0, 0), (0.001, 0)]),
            shapely.LineString([(0.001, 0), (0.002, 0.001)]),
        ],
        crs="EPSG:4326",
    )
    net = WalkNetwork(nodes, edges, "EPSG:32631")
    back = read_network(save_network(net, tmp_path / "net"))  # type: ignore[operator]
    assert "edge_grid" in back.edge_index.__dict__  # read, not rebuilt
    grid, want = back.edge_index.edge_grid, net.edge_index.edge_grid
    assert np.array_equal(grid.rank, want.rank) and np.array_equal(grid.entry, want.entry)
    probe = shapely.buffer(shapely.Point(166_100.0, 0.0), 5.0)  # one geometry: 1-D answer
    got = back.edge_index.search.query(probe, predicate="intersects")
    assert got.tolist() == shapely.STRtree(net.edge_index.geoms).query(probe, "intersects").tolist()
    assert got.tolist() == [0]
