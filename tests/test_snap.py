"""Tests for coverage.snap: projecting points onto the nearest edge, compound access points.

Lattices are built in UTM metres (EPSG:32650, near Beijing) and stored in WGS-84 as the
WalkNetwork contract says, so every expected number below is computed by hand in metres.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point

from _lattice import CRS, DIAMOND, X0, Y0, grid, local_xy, make_network, points, polygons
from coverage.errors import CRSError, InputError
from coverage.network import WalkNetwork
from coverage.snap import (
    PIECE_M,
    SnappedCompounds,
    access_points,
    edge_index,
    snap_compounds,
    snap_layer,
    snap_points,
)

# ---------------------------------------------------------------------------------------------
# snapping


def test_snap_projects_onto_nearest_edge_not_node() -> None:
    net = grid()
    # (150, 110): 10 m above the middle of edge 4-5; the nearest node is 50 m away
    # (130, 95): 5 m below edge 4-5, 30 m from node 4
    pts = points([(150, 110), (130, 95)], ["a", "b"], "station_id")
    got = snap_points(pts, net)
    edge45 = int(np.flatnonzero((net.edges.u == 4) & (net.edges.v == 5))[0])
    assert got["station_id"].tolist() == ["a", "b"]
    assert got["edge"].tolist() == [edge45, edge45]
    assert got["u"].tolist() == [4, 4] and got["v"].tolist() == [5, 5]
    np.testing.assert_allclose(got["along_m"], [50.0, 30.0], atol=1e-6)
    np.testing.assert_allclose(got["access_m"], [10.0, 5.0], atol=1e-6)
    assert got["reason"].tolist() == ["", ""]
    # the snapped location is the foot of the perpendicular
    back = gpd.GeoSeries(gpd.points_from_xy(got.snap_lon, got.snap_lat), crs="EPSG:4326")
    xy = np.column_stack([back.to_crs(CRS).x - X0, back.to_crs(CRS).y - Y0])
    np.testing.assert_allclose(xy, [[150, 100], [130, 100]], atol=1e-6)


def test_along_is_measured_from_u_in_length_m_units() -> None:
    # the same edge stored the other way round (u=1 at x=100) and with length_m twice the
    # drawn length: along_m is the projected fraction times length_m
    net = make_network([(0, 0), (100, 0)], [(1, 0)])
    edges = net.edges.copy()
    edges["length_m"] = 200.0
    net2 = WalkNetwork(net.nodes, edges, CRS)
    pts = points([(30, 4)], ["p"], "station_id")
    a = snap_points(pts, net).iloc[0]
    b = snap_points(pts, net2).iloc[0]
    assert (a.u, a.v) == (1, 0)
    assert a.along_m == pytest.approx(70.0, abs=1e-6)
    assert b.along_m == pytest.approx(140.0, abs=1e-6)
    assert a.access_m == pytest.approx(4.0, abs=1e-6) == b.access_m


def test_snap_far_points_and_max_snap_m() -> None:
    net = grid()
    pts = points([(100, 2100), (100, 240)], ["far", "forty"], "station_id")
    got = snap_points(pts, net)
    assert got["reason"].tolist() == ["far_from_network", ""]
    assert got["edge"].iloc[0] == -1 and got["u"].iloc[0] == -1
    assert np.isnan(got["along_m"].iloc[0]) and np.isnan(got["access_m"].iloc[0])
    assert got["access_m"].iloc[1] == pytest.approx(40.0, abs=1e-6)
    tight = snap_points(pts, net, max_snap_m=30.0)
    assert tight["reason"].tolist() == ["far_from_network", "far_from_network"]


def test_snap_any_crs_and_keeps_index() -> None:
    net = grid()
    pts = points([(150, 110), (37, -20)], ["a", "b"], "station_id")
    pts.index = pd.Index([10, 20])
    a = snap_points(pts, net)
    b = snap_points(pts.to_crs("EPSG:3857"), net)
    assert list(a.index) == [10, 20] == list(b.index)
    pd.testing.assert_frame_equal(a, b, atol=1e-6)


def test_snap_without_crs_is_an_error() -> None:
    pts = points([(150, 110)], ["a"], "station_id").set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match="no CRS"):
        snap_points(pts, grid())


def test_snap_matches_brute_force_on_random_lattice() -> None:
    rng = np.random.default_rng(7)
    k = 8
    xy = [
        (c * 80 + rng.uniform(-20, 20), r * 80 + rng.uniform(-20, 20))
        for r in range(k)
        for c in range(k)
    ]
    edges = [(r * k + c, r * k + c + 1) for r in range(k) for c in range(k - 1)]
    edges += [(r * k + c, (r + 1) * k + c) for r in range(k - 1) for c in range(k)]
    # a few bent edges: the projection must follow the polyline
    via = {
        i: [(xy[e[0]][0] + 15, (xy[e[0]][1] + xy[e[1]][1]) / 2 + 10)]
        for i, e in enumerate(edges)
        if i % 7 == 0
    }
    net = make_network(xy, edges, via=via)
    pxy = rng.uniform(-100, 660, size=(300, 2))
    got = snap_points(
        points([tuple(p) for p in pxy], [f"p{i}" for i in range(300)], "station_id"),
        net,
        max_snap_m=60.0,
    )

    lines = edge_index(net).geoms
    pts = shapely.points(pxy[:, 0] + X0, pxy[:, 1] + Y0)
    dist = shapely.distance(pts[:, None], lines[None, :])  # brute force: every point x every edge
    best = dist.min(axis=1)
    snapped = best <= 60.0
    assert (got["reason"] == "").to_numpy().tolist() == snapped.tolist()
    np.testing.assert_allclose(got["access_m"].to_numpy()[snapped], best[snapped], atol=1e-6)
    e = got["edge"].to_numpy()[snapped]
    np.testing.assert_allclose(dist[np.flatnonzero(snapped), e], best[snapped], atol=1e-6)
    frac = shapely.line_locate_point(lines[e], pts[snapped], normalized=True)
    np.testing.assert_allclose(
        got["along_m"].to_numpy()[snapped], frac * net.edges.length_m.to_numpy()[e], atol=1e-6
    )


# ---------------------------------------------------------------------------------------------
# access points


def test_point_compound_is_its_own_access_point() -> None:
    cmp = points([(150, 110)], ["c1"], "compound_id")
    ap = access_points(cmp, grid())
    assert ap["compound_id"].tolist() == ["c1"] and ap["kind"].tolist() == ["point"]
    assert ap.crs == "EPSG:4326"
    np.testing.assert_allclose(local_xy(ap), [[150, 110]], atol=1e-6)


def test_polygon_without_gates_or_entries_is_open_at_the_boundary_point_nearest_each_edge() -> None:
    ap = access_points(polygons([DIAMOND], ["d"]), grid())
    assert set(ap["kind"]) == {"point"} and set(ap["rule"]) == {"open"}
    xy = set(map(tuple, np.round(local_xy(ap), 6).tolist()))
    # each of the four vertices is 15 m from one side of the cell; farther edges add theirs
    assert {(150.0, 15.0), (185.0, 50.0), (150.0, 85.0), (115.0, 50.0)} <= xy
    assert len(ap) > 4  # no cap
    snaps = snap_points(ap, grid())
    assert snaps["access_m"].min() == pytest.approx(15.0, abs=1e-6)


def test_polygon_with_gate_uses_only_the_gate() -> None:
    gates = points([(150, 15.5), (185, 80)], ["g1", "g2"], "osm_id")  # inside; 21.2 m off
    ap = access_points(polygons([DIAMOND], ["d"]), grid(), entrances=gates)
    assert ap["kind"].tolist() == ["gate"] and ap["gate"].tolist() == ["g1"]
    assert ap["rule"].tolist() == ["gates"]
    np.testing.assert_allclose(local_xy(ap), [[150, 15.5]], atol=1e-6)
    # a gate beyond the tolerance does not count: back to open boundary points
    ap2 = access_points(polygons([DIAMOND], ["d"]), grid(), entrances=gates.iloc[[1]])
    assert set(ap2["kind"]) == {"point"} and set(ap2["rule"]) == {"open"}
    # within a wider tolerance it does (outside every compound: the nearest one's gate)
    ap3 = access_points(
        polygons([DIAMOND], ["d"]), grid(), entrances=gates.iloc[[1]], gate_tolerance_m=22.0
    )
    assert ap3["gate"].tolist() == ["g2"]


def test_edges_entering_a_polygon_give_access_points_on_them_with_zero_leg() -> None:
    square = [(60, 60), (140, 60), (140, 140), (60, 140), (60, 60)]  # around node 4 (100, 100)
    ap = access_points(polygons([square], ["s"]), grid())
    xy = sorted(map(tuple, np.round(local_xy(ap), 6).tolist()))
    assert xy == sorted([(140.0, 100.0), (100.0, 140.0), (60.0, 100.0), (100.0, 60.0)])
    np.testing.assert_allclose(snap_points(ap, grid())["access_m"], 0.0, atol=1e-6)
    # a way wholly inside a polygon: its access point is on the way
    net = make_network([(0, 0), (300, 0), (120, 50), (180, 50)], [(0, 1), (2, 3)])
    big = [(100, 30), (200, 30), (200, 70), (100, 70), (100, 30)]
    snaps = snap_points(access_points(polygons([big], ["b"]), net), net)
    assert (snaps["access_m"] < 1e-9).any()


def test_open_access_takes_a_boundary_point_for_every_near_edge() -> None:
    # a long polygon side 5 m above a way of ten edges, and a way 30 m above it: every edge
    # gives a candidate (no cap, no minimum gap), each snapped to its own nearest edge
    xy = [(float(x), 0.0) for x in range(0, 101, 10)] + [(0.0, 70.0), (100.0, 70.0)]
    net = make_network(xy, [(i, i + 1) for i in range(10)] + [(11, 12)])
    strip = [(0, 5), (100, 5), (100, 40), (0, 40), (0, 5)]
    ap = access_points(polygons([strip], ["s"]), net, access="open")
    assert len(ap) > 4 and set(ap["kind"]) == {"point"}
    snaps = snap_points(ap, net)
    assert snaps["access_m"].min() == pytest.approx(5.0, abs=1e-6)
    # every edge is some candidate's nearest; the top way's from where the sides are nearer
    # to it than to the bottom way (35 m up), its points on the top side 30 m from it
    assert set(snaps["edge"]) == set(range(11))
    top = snaps["edge"] == 10
    assert snaps.loc[top, "access_m"].min() == pytest.approx(30.0, abs=1e-6)
    assert snaps.loc[top, "access_m"].max() == pytest.approx(35.0, abs=1e-4)


def test_far_polygon_keeps_one_point_that_does_not_snap() -> None:
    far = [(2000, 2000), (2100, 2000), (2100, 2100), (2000, 2100), (2000, 2000)]
    ap = access_points(polygons([far, DIAMOND], ["far", "d"]), grid())
    assert ap["compound_id"].tolist()[0] == "far" and (ap["compound_id"] == "far").sum() == 1
    assert snap_points(ap, grid())["reason"].iloc[0] == "far_from_network"


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (points([(0, 0)], ["a"], "name"), "missing required column"),
        (points([(0, 0), (1, 1)], ["a", "a"], "compound_id"), "duplicate id"),
        (points([(0, 0)], [None], "compound_id"), "empty id"),  # type: ignore[list-item]
        (
            gpd.GeoDataFrame({"compound_id": ["a"]}, geometry=[None], crs="EPSG:4326"),
            "missing geometry",
        ),
    ],
)
def test_access_points_bad_input(frame: gpd.GeoDataFrame, match: str) -> None:
    with pytest.raises(InputError, match=match):
        access_points(frame, grid())


def test_nearest_edge_beyond_the_first_candidates_is_found() -> None:
    # a 2 km straight edge passes 30 m below the point, whose foot falls on a piece boundary,
    # so the edge's nearest piece midpoints are sqrt(30² + (PIECE_M/2)²) away. Twenty tiny
    # edges on an arc between the two distances crowd the first candidates: the exactness
    # check must look further and still pick the long edge.
    half = PIECE_M / 2
    r = (30.0 + np.hypot(30.0, half)) / 2
    xy = [(-1000.0, 0.0), (1000.0, 0.0)]
    edges: list[tuple[int, int]] = [(0, 1)]
    for a in np.linspace(np.pi / 6, 5 * np.pi / 6, 20):
        cx, cy = r * np.cos(a), 30.0 + r * np.sin(a)
        xy += [(cx - 0.05, cy), (cx + 0.05, cy)]
        edges.append((len(xy) - 2, len(xy) - 1))
    net = make_network(xy, edges)
    got = snap_points(points([(0, 30)], ["p"], "station_id"), net).iloc[0]
    assert got.edge == 0
    assert got.access_m == pytest.approx(30.0, abs=1e-6)
    assert got.along_m == pytest.approx(1000.0, abs=1e-6)


def test_edge_index_geometries_match_the_edges() -> None:
    net = make_network([(0, 0), (100, 0), (50, 80)], [(0, 1), (1, 2), (2, 0)], via={1: [(90, 50)]})
    geoms = edge_index(net).geoms
    expected = np.asarray(net.edges.geometry.to_crs(CRS).values)
    assert shapely.equals_exact(geoms, expected, tolerance=1e-6).all()
    np.testing.assert_allclose(edge_index(net).proj_len, shapely.length(expected))


# ---------------------------------------------------------------------------------------------
# snapping compounds once


def _mixed_compounds() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Points, a gated and an ungated polygon, and a far polygon; the gate layer."""
    far = [(2000, 2000), (2100, 2000), (2100, 2100), (2000, 2100), (2000, 2000)]
    square = [(60, 60), (140, 60), (140, 140), (60, 140), (60, 60)]
    polys = polygons([DIAMOND, square, far], ["diamond", "square", "far"])
    pts = points([(150, 110), (40, -20), (900, 900)], ["p1", "p2", "p_far"], "compound_id")
    cmp = pd.concat([pts.iloc[:2], polys, pts.iloc[2:]], ignore_index=True)
    gates = points([(150, 15.5)], ["g1"], "osm_id")
    return cmp, gates


def test_snap_compounds_equals_access_points_then_snap_points() -> None:
    net = grid()
    cmp, gates = _mixed_compounds()
    got = snap_compounds(cmp, net, entrances=gates, max_snap_m=300.0)
    assert isinstance(got, SnappedCompounds) and len(got) == 6
    assert list(got.compound_ids) == ["p1", "p2", "diamond", "square", "far", "p_far"]
    ap = access_points(cmp, net, entrances=gates)
    snaps = snap_points(ap, net)
    ok = (snaps["reason"] == "").to_numpy()
    pos = pd.Index(list(got.compound_ids)).get_indexer(ap["compound_id"])
    np.testing.assert_array_equal(got.owner, pos[ok])
    np.testing.assert_array_equal(got.kind, ap["kind"].to_numpy()[ok])
    np.testing.assert_array_equal(got.edge, snaps["edge"].to_numpy()[ok])
    # access_points goes through WGS-84 and back: equal to well under a millimetre
    np.testing.assert_allclose(got.along_m, snaps["along_m"].to_numpy()[ok], atol=1e-6)
    np.testing.assert_allclose(got.access_m, snaps["access_m"].to_numpy()[ok], atol=1e-6)
    assert got.n_access_points == len(ap)
    assert got.snapped.tolist() == [True, True, True, True, False, False]
    assert (np.diff(got.owner) >= 0).all()
    # the gated diamond enters at its gate only, 15.5 m above the bottom row of edges
    diamond = got.owner == 2
    assert got.kind[diamond].tolist() == ["gate"]
    assert got.access_m[diamond] == pytest.approx([15.5])


def test_snapped_compounds_pickle_and_know_their_network() -> None:
    net = grid()
    cmp, gates = _mixed_compounds()
    got = snap_compounds(cmp, net, entrances=gates)
    back = pickle.loads(pickle.dumps(got))
    for name in ("snapped", "owner", "kind", "edge", "along_m", "access_m"):
        np.testing.assert_array_equal(getattr(back, name), getattr(got, name))
        # read-only, also after a round trip (the travel functions cache what they derive)
        for obj in (got, back):
            with pytest.raises(ValueError, match="read-only"):
                getattr(obj, name)[:1] = getattr(obj, name)[:1]
    assert list(back.compound_ids) == list(got.compound_ids)
    assert back.network_fingerprint == got.network_fingerprint
    back.check_network(grid())  # an equal network built again is the same network
    with pytest.raises(InputError, match="another network"):
        back.check_network(grid(k=4))


def test_snap_points_with_an_empty_point() -> None:
    # all-point layers take a fast path; one empty point sends the layer down the general one
    net = grid()
    pts = points([(150, 110), (40, -20), (260, 30)], ["a", "b", "c"], "station_id")
    whole = snap_points(pts, net)
    with_empty = pd.concat(
        [pts.iloc[:2], gpd.GeoDataFrame({"station_id": ["e"]}, geometry=[Point()], crs=pts.crs)]
    )
    with_empty = pd.concat([with_empty, pts.iloc[2:]], ignore_index=True)
    got = snap_points(with_empty, net)
    assert got["reason"].tolist() == ["", "", "far_from_network", ""]
    assert got["edge"].iloc[2] == -1 and np.isnan(got["access_m"].iloc[2])
    keep = got.drop(index=2).reset_index(drop=True)
    pd.testing.assert_frame_equal(keep, whole.reset_index(drop=True), check_exact=True)
    assert got["access_m"].tolist()[:2] == pytest.approx([10.0, 20.0])


def test_snap_compounds_bad_input() -> None:
    with pytest.raises(InputError, match="duplicate id"):
        snap_compounds(points([(0, 0), (1, 1)], ["a", "a"], "compound_id"), grid())
    with pytest.raises(CRSError, match="no CRS"):
        snap_compounds(
            points([(0, 0)], ["a"], "compound_id").set_crs(None, allow_override=True), grid()
        )


OSM_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"


@pytest.mark.parametrize("name", ["monaco.osm.pbf", "beijing-haidian-wudaokou.osm.bz2"])
def test_real_network_snap_matches_shapely_query_nearest(name: str) -> None:
    from coverage.network import network_from_file

    net = network_from_file(OSM_DIR / name)
    lines = np.asarray(net.edges.geometry.to_crs(net.crs).values)
    x0, y0, x1, y1 = shapely.total_bounds(lines)
    rng = np.random.default_rng(3)
    xy = np.column_stack(
        [rng.uniform(x0 - 200, x1 + 200, 3000), rng.uniform(y0 - 200, y1 + 200, 3000)]
    )
    pts = gpd.GeoDataFrame(
        {"station_id": [f"p{i}" for i in range(3000)]},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=net.crs,
    )
    got = snap_points(pts, net, max_snap_m=150.0)
    # snapped one by one or with the others, in or out of Z-order: the same, bit for bit
    part = snap_points(pts.iloc[::15], net, max_snap_m=150.0)
    pd.testing.assert_frame_equal(part, got.iloc[::15], check_exact=True)
    tree = shapely.STRtree(lines)
    (i_pt, _), dist = tree.query_nearest(
        np.asarray(pts.geometry.values), max_distance=150.0, return_distance=True, all_matches=False
    )
    snapped = np.zeros(3000, dtype=bool)
    snapped[i_pt] = True
    assert snapped.sum() > 500 and (~snapped).sum() > 50
    assert (got["reason"] == "").to_numpy().tolist() == snapped.tolist()
    np.testing.assert_allclose(got["access_m"].to_numpy()[i_pt], dist, atol=1e-6)
    # the chosen edge is at that distance, and along_m is shapely's projection on it
    e = got["edge"].to_numpy()[i_pt]
    p = np.asarray(pts.geometry.values)[i_pt]
    np.testing.assert_allclose(shapely.distance(p, lines[e]), dist, atol=1e-6)
    frac = shapely.line_locate_point(lines[e], p, normalized=True)
    length = net.edges["length_m"].to_numpy()[e]
    np.testing.assert_allclose(got["along_m"].to_numpy()[i_pt], frac * length, atol=1e-6)


def test_snap_layer_equals_snap_points_and_finds_its_id_column() -> None:
    net = grid()
    st = points(
        [(150, 10), (40, -20), (900, 900), (310, 190)], ["a", "b", "far", "d"], "station_id"
    )
    got = snap_layer(st, net)
    table = snap_points(st, net)
    ok = (table["reason"] == "").to_numpy()
    assert got.id_column == "station_id" and len(got) == 4
    assert got.snapped.tolist() == ok.tolist() == [True, True, False, True]
    assert list(got.reason) == table["reason"].tolist()
    np.testing.assert_array_equal(got.owner, np.flatnonzero(ok))
    np.testing.assert_array_equal(got.edge, table["edge"].to_numpy()[ok])
    np.testing.assert_array_equal(got.along_m, table["along_m"].to_numpy()[ok])
    np.testing.assert_array_equal(got.access_m, table["access_m"].to_numpy()[ok])
    assert (got.kind == "point").all() and got.n_access_points == 4
    assert len(repr(got)) < 500
    cand = st.rename(columns={"station_id": "candidate_id"})
    assert snap_layer(cand, net).id_column == "candidate_id"
    with pytest.raises(InputError, match="id_column"):
        snap_layer(cand.assign(site_id="x"), net)
    with pytest.raises(InputError, match="duplicate"):
        snap_layer(pd.concat([st, st.iloc[:1]], ignore_index=True), net)
