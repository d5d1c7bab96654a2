"""Tests for coverage.travel: exact walk times.

* Hand lattices (built in UTM metres, EPSG:32650, stored in WGS-84): every expected time is
  written out as metres / (metres per minute).
* A random lattice checked against an independent networkx model in which every snapped point
  splits its edge into pieces (so "same edge" and "via the ends" need no special case there).
* Every real extract in ../shared/data/osm: stations and compounds placed exactly at nodes,
  checked against networkx Dijkstra on a graph built straight from the edge table.
"""

from __future__ import annotations

import functools
import pickle
import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely

from _lattice import CRS, DIAMOND, grid, make_network, points, polygons
from coverage import travel
from coverage.config import DEFAULT_PROFILES, Profile
from coverage.errors import CoverageWarning, CRSError, InputError
from coverage.network import WalkNetwork
from coverage.snap import (
    SnappedCompounds,
    access_points,
    edge_index,
    snap_compounds,
    snap_layer,
    snap_points,
)
from coverage.travel import nearest_station, to_sparse, travel_graph, walk_times

ADULT = DEFAULT_PROFILES["adult"]  # 4.5 km/h = 75 m/min, steps x1.5
ELDERLY = DEFAULT_PROFILES["elderly"]  # 3 km/h = 50 m/min, steps x2.5
OSM_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"


# ---------------------------------------------------------------------------------------------
# hand-made networks (lattice builders in tests/_lattice.py)


def stations_at(xy: Sequence[tuple[float, float]], ids: Sequence[str] | None = None):  # type: ignore[no-untyped-def]
    return points(xy, ids or [f"s{i}" for i in range(len(xy))], "station_id")


def compounds_at(xy: Sequence[tuple[float, float]], ids: Sequence[str] | None = None):  # type: ignore[no-untyped-def]
    return points(xy, ids or [f"c{i}" for i in range(len(xy))], "compound_id")


def row(frame: pd.DataFrame, compound_id: str) -> pd.Series:
    return frame.set_index("compound_id").loc[compound_id]


# ---------------------------------------------------------------------------------------------
# hand-computed lattices


def test_grid_point_mid_edge_hand_computed() -> None:
    # station on node 0 (0, 0); compound 10 m off the middle of edge 4-5 (from (100,100) to
    # (200,100)): 200 m to node 4, 50 m along the edge, 10 m access leg = 260 m at 75 m/min
    net = grid()
    got = nearest_station(compounds_at([(150, 110)]), stations_at([(0, 0)]), net, profile=ADULT)
    assert got.columns.tolist() == ["compound_id", "nearest_station_id", "walk_min", "reason"]
    assert got["walk_min"].iloc[0] == pytest.approx(260 / 75, abs=1e-9)
    assert got["nearest_station_id"].iloc[0] == "s0" and got["reason"].iloc[0] == ""
    # the station also off an edge: 20 m leg onto edge 0-1 at x=40 -> node 1 at 60 m
    # route: 20 + 60 + (1 -> 4: 100) + 50 + 10 = 240 m  (via node 0 it is 20+40+200+50+10)
    got = nearest_station(compounds_at([(150, 110)]), stations_at([(40, -20)]), net, profile=ADULT)
    assert got["walk_min"].iloc[0] == pytest.approx(240 / 75, abs=1e-9)


def test_same_edge_direct_is_shorter_than_via_the_ends() -> None:
    # station 5 m below edge 4-5 at x=130, compound 8 m above it at x=170:
    # direct 5 + 40 + 8 = 53 m; through the ends it would be 5 + 30 + 100 + 30 + 8 = 173 m
    net = grid()
    st = stations_at([(130, 95)])
    cmp = compounds_at([(170, 108)])
    got = nearest_station(cmp, st, net, profile=ADULT)
    assert got["walk_min"].iloc[0] == pytest.approx(53 / 75, abs=1e-9)
    long = walk_times(cmp, st, net, profile=ADULT, limit_min=15)
    assert long["walk_min"].tolist() == pytest.approx([53 / 75], abs=1e-9)


def test_same_edge_but_the_way_round_through_the_ends_is_shorter() -> None:
    # a 700 m detour edge u -> (0,300) -> (100,300) -> v and a 100 m straight edge u - v;
    # compound and station both on the detour, 50 m from u and from v respectively:
    # along the detour 5 + 600 + 5 = 610 m; via u, the short edge and v: 5+50+100+50+5 = 210 m
    net = make_network([(0, 0), (100, 0)], [(0, 1), (0, 1)], via={1: [(0, 300), (100, 300)]})
    cmp = compounds_at([(-5, 50)])
    st = stations_at([(105, 50)])
    assert snap_points(st, net)["edge"].tolist() == [1]
    assert snap_points(st, net)["along_m"].iloc[0] == pytest.approx(650, abs=1e-6)
    got = nearest_station(cmp, st, net, profile=ADULT)
    assert got["walk_min"].iloc[0] == pytest.approx(210 / 75, abs=1e-9)
    long = walk_times(cmp, st, net, profile=ADULT, limit_min=15)
    assert long["walk_min"].tolist() == pytest.approx([210 / 75], abs=1e-9)


def test_far_from_network_and_unreachable() -> None:
    # an island (two nodes at x=1000..1100, y=0) with no station
    net = grid(extra=[(1000, 0), (1100, 0)])
    cmp = compounds_at([(150, 110), (100, 2100), (1050, 20)], ["ok", "far", "island"])
    got = nearest_station(cmp, stations_at([(0, 0)]), net, profile=ADULT)
    assert got["compound_id"].tolist() == ["ok", "far", "island"]
    assert got["reason"].tolist() == ["", "far_from_network", "unreachable"]
    assert got["walk_min"].isna().tolist() == [False, True, True]
    assert got["nearest_station_id"].isna().tolist() == [False, True, True]
    long = walk_times(cmp, stations_at([(0, 0)]), net, profile=ADULT, limit_min=60)
    assert long["compound_id"].tolist() == ["ok"]


def test_station_far_from_network_is_left_out_with_a_warning() -> None:
    net = grid()
    st = stations_at([(0, 0), (5000, 5000)], ["near", "lost"])
    with pytest.warns(CoverageWarning, match="lost"):
        got = nearest_station(compounds_at([(150, 110)]), st, net, profile=ADULT)
    assert got["nearest_station_id"].tolist() == ["near"]
    assert snap_points(st, net)["reason"].tolist() == ["", "far_from_network"]
    with pytest.warns(CoverageWarning, match="lost"):
        long = walk_times(compounds_at([(150, 110)]), st, net, profile=ADULT, limit_min=30)
    assert long["station_id"].tolist() == ["near"]


def test_only_far_stations_make_everything_unreachable() -> None:
    with pytest.warns(CoverageWarning):
        got = nearest_station(
            compounds_at([(150, 110)]), stations_at([(5000, 0)]), grid(), profile=ADULT
        )
    assert got["reason"].tolist() == ["unreachable"]


def _no_crs(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.set_crs(None, allow_override=True)


@pytest.mark.parametrize(
    ("stations", "error", "match"),
    [
        (stations_at([]), InputError, "station layer is empty"),
        (points([(0, 0)], ["a"], "name"), InputError, "missing required column"),
        (stations_at([(0, 0), (1, 1)], ["a", "a"]), InputError, "duplicate id 'a'"),
        (
            gpd.GeoDataFrame({"station_id": ["a"]}, geometry=[None], crs="EPSG:4326"),
            InputError,
            "missing geometry",
        ),
        (_no_crs(stations_at([(0, 0)])), CRSError, "no CRS"),
    ],
)
def test_bad_station_layers(stations: gpd.GeoDataFrame, error: type, match: str) -> None:
    for fn in (nearest_station, walk_times):
        kw = {"limit_min": 15.0} if fn is walk_times else {}
        with pytest.raises(error, match=match):
            fn(compounds_at([(150, 110)]), stations, grid(), profile=ADULT, **kw)


def test_bad_limit() -> None:
    with pytest.raises(InputError, match="limit_min must be positive"):
        walk_times(
            compounds_at([(0, 0)]), stations_at([(0, 0)]), grid(), profile=ADULT, limit_min=0
        )


def test_duplicate_station_points_are_both_kept() -> None:
    net = grid()
    st = stations_at([(200, 200), (200, 200), (0, 200)], ["a", "b", "c"])
    cmp = compounds_at([(150, 110)])
    got = nearest_station(cmp, st, net, profile=ADULT)
    # to node 5 (200, 100): 50 m, then 100 m up = 150 m + 10 m leg
    assert got["nearest_station_id"].iloc[0] in {"a", "b"}
    assert got["walk_min"].iloc[0] == pytest.approx(160 / 75, abs=1e-9)
    long = walk_times(cmp, st, net, profile=ADULT, limit_min=15)
    a = long.set_index("station_id")["walk_min"]
    assert set(a.index) == {"a", "b", "c"}
    assert a["a"] == a["b"] == pytest.approx(160 / 75, abs=1e-9)


@pytest.mark.parametrize("ids", [["a", "b"], ["b", "a"]])
def test_same_edge_tie_goes_to_the_first_station(ids: list[str]) -> None:
    # two stations at one spot on the compound's edge: the first one in the layer is nearest
    net = grid()
    st = stations_at([(130, 95), (130, 95), (0, 0)], [*ids, "far"])
    cmp = compounds_at([(170, 108), (150, 110), (0, 190)])
    origins = snap_compounds(cmp, net)
    for given in (cmp, origins, origins):  # the second snapped call uses the cached entries
        got = nearest_station(given, st, net, profile=ADULT)
        assert got["nearest_station_id"].tolist() == [ids[0], ids[0], "far"]
        assert got["walk_min"].tolist() == pytest.approx([53 / 75, 35 / 75, 190 / 75], abs=1e-9)


def test_steps_factor_per_profile() -> None:
    # A(0,0) -100 m footway- B(100,0) -100 m steps- C(200,0)
    net = make_network([(0, 0), (100, 0), (200, 0)], [(0, 1, "footway"), (1, 2, "steps")])
    cmp, st = compounds_at([(200, 0)]), stations_at([(0, 0)])
    adult = nearest_station(cmp, st, net, profile=ADULT)["walk_min"].iloc[0]
    elderly = nearest_station(cmp, st, net, profile=ELDERLY)["walk_min"].iloc[0]
    assert adult == pytest.approx((100 + 100 * 1.5) / 75, abs=1e-9)
    assert elderly == pytest.approx((100 + 100 * 2.5) / 50, abs=1e-9)
    # partial steps and the access leg: a compound 6 m off the steps, 40 m from B:
    # 100 + 40 * 1.5 on the steps + 6 m leg (no factor)
    got = nearest_station(compounds_at([(140, 6)]), st, net, profile=ADULT)
    assert got["walk_min"].iloc[0] == pytest.approx((100 + 60 + 6) / 75, abs=1e-9)


def test_polygon_compound_with_and_without_gate() -> None:
    net = grid()
    poly = polygons([DIAMOND], ["d"])
    st = stations_at([(200, 200)])
    # no gate: best boundary point is the right or top vertex (15 m leg onto edge 2-5 or
    # 4-5, 50 m to node 5, 100 m up to node 8) = 165 m
    got = nearest_station(poly, st, net, profile=ADULT)
    assert got["walk_min"].iloc[0] == pytest.approx(165 / 75, abs=1e-9)
    # gate at the bottom vertex: 15 m leg onto edge 1-2, 50 m to node 2, 200 m up = 265 m
    gate = points([(150, 15)], ["g"], "osm_id")
    got = nearest_station(poly, st, net, profile=ADULT, entrances=gate)
    assert got["walk_min"].iloc[0] == pytest.approx(265 / 75, abs=1e-9)
    long = walk_times(poly, st, net, profile=ADULT, limit_min=15, entrances=gate)
    assert long["walk_min"].tolist() == pytest.approx([265 / 75], abs=1e-9)


@pytest.mark.parametrize("case", ["fast_factor", "short_length_m"])
def test_limited_search_reaches_beyond_speed_times_limit(case: str) -> None:
    # a straight 1 km road, nodes every 100 m; station at x=0, compounds on the nodes.
    # At 60 m/min a 5-minute limit is 300 m of level walking, but here every metre drawn costs
    # half: either the factor is 0.5, or length_m is half the drawn length. The local subgraph
    # must then reach 600 m, not 300 m.
    xy = [(100.0 * i, 0.0) for i in range(11)]
    net = make_network(xy, [(i, i + 1, "residential") for i in range(10)])
    profile = Profile("p", 3.6, {"residential": 0.5} if case == "fast_factor" else {})
    if case == "short_length_m":
        edges = net.edges.copy()
        edges["length_m"] = 50.0
        net = WalkNetwork(net.nodes, edges, CRS)
    cmp = compounds_at(xy[1:])
    long = walk_times(cmp, stations_at([(0, 0)]), net, profile=profile, limit_min=5, batch_size=1)
    assert long["compound_id"].tolist() == [f"c{i}" for i in range(6)]
    np.testing.assert_allclose(long["walk_min"], [50 * (i + 1) / 60 for i in range(6)], atol=1e-9)


def test_travel_graph_is_cached_and_pickles() -> None:
    net = grid()
    g1 = travel_graph(net, profile=ADULT)
    assert travel_graph(net, profile=ADULT) is g1
    assert travel_graph(net, profile=ELDERLY) is not g1
    g2 = pickle.loads(pickle.dumps(g1))
    assert (g2.csr != g1.csr).nnz == 0 and g2.profile == ADULT
    # parallel edges keep the fastest one; both directions are stored
    par = make_network([(0, 0), (100, 0)], [(0, 1), (0, 1)], via={0: [(50, 80)]})
    csr = travel_graph(par, profile=ADULT).csr
    assert csr.nnz == 2 and csr[0, 1] == csr[1, 0] == pytest.approx(100 / 75)


def test_invalid_profile() -> None:
    with pytest.raises(InputError, match="invalid travel profile"):
        travel_graph(grid(), profile=Profile("x", 4.5, {"steps": 0.0}))


def test_to_sparse() -> None:
    long = pd.DataFrame(
        {
            "compound_id": ["c1", "c2", "c2"],
            "station_id": ["s2", "s1", "s2"],
            "walk_min": [3.0, 0.0, 7.5],
        }
    )
    m = to_sparse(long, ["c1", "c2", "c3"], ["s1", "s2"])
    assert isinstance(m, sp.csr_matrix) and m.shape == (3, 2)
    assert m.nnz == 3  # the zero walk time is stored explicitly
    np.testing.assert_array_equal(m.toarray(), [[0, 3], [0, 7.5], [0, 0]])
    assert m[1].indices.tolist() == [0, 1]
    with pytest.raises(InputError, match="not in station_ids"):
        to_sparse(long, ["c1", "c2"], ["s1"])
    with pytest.raises(InputError, match="more than once"):
        to_sparse(pd.concat([long, long]), ["c1", "c2"], ["s1", "s2"])


# ---------------------------------------------------------------------------------------------
# random lattice against an independent model


def _split_graph(net: WalkNetwork, profile: Profile, snapped: dict[str, pd.DataFrame]) -> nx.Graph:
    """networkx graph in which every snapped point splits its edge; point nodes ("pt", key)."""
    speed = profile.speed_m_per_min
    on_edge: dict[int, list[tuple[float, object]]] = defaultdict(list)
    g = nx.Graph()

    def add(a: object, b: object, w: float) -> None:
        if a == b:
            return
        if not g.has_edge(a, b) or g[a][b]["weight"] > w:
            g.add_edge(a, b, weight=w)

    for prefix, frame in snapped.items():
        for key, s in frame.iterrows():
            if s.edge < 0:
                continue
            on_edge[int(s.edge)].append((float(s.along_m), (prefix, key)))
            add(("pt", (prefix, key)), ("on", (prefix, key)), s.access_m / speed)
    for e, (u, v, length, hw) in enumerate(
        net.edges[["u", "v", "length_m", "highway"]].itertuples(index=False)
    ):
        mpm = profile.factors.get(hw, 1.0) / speed
        prev, prev_along = ("n", u), 0.0
        for along, key in sorted(on_edge.get(e, []), key=lambda t: t[0]):
            add(prev, ("on", key), (along - prev_along) * mpm)
            prev, prev_along = ("on", key), along
        add(prev, ("n", v), (length - prev_along) * mpm)
    return g


def _random_lattice() -> tuple[WalkNetwork, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A jittered 12 x 12 lattice with mixed way types, bent and parallel edges and an island;
    30 stations, 120 point compounds (many on the stations' edges, one on the island, one far
    away) and two polygon compounds."""
    rng = np.random.default_rng(11)
    k = 12
    xy = [
        (c * 90 + rng.uniform(-25, 25), r * 90 + rng.uniform(-25, 25))
        for r in range(k)
        for c in range(k)
    ]
    edges: list[tuple[int, int] | tuple[int, int, str]] = []
    kinds = ["footway", "steps", "residential", "service"]
    for r in range(k):
        for c in range(k):
            i = r * k + c
            if c < k - 1 and rng.random() < 0.9:
                edges.append((i, i + 1, kinds[rng.integers(4)]))
            if r < k - 1 and rng.random() < 0.9:
                edges.append((i, i + k, kinds[rng.integers(4)]))
    edges += [(0, 1, "footway"), (5, 6, "steps")]  # parallel edges (bent below)
    via = {len(edges) - 2: [(45, -60)], len(edges) - 1: [(500, 200)]}
    via.update(
        {
            i: [((xy[e[0]][0] + xy[e[1]][0]) / 2 + 20, (xy[e[0]][1] + xy[e[1]][1]) / 2 - 15)]
            for i, e in enumerate(edges[:-2])
            if i % 5 == 0
        }
    )
    # an island far away with a compound but no station
    xy += [(3000, 3000), (3100, 3000)]
    edges.append((k * k, k * k + 1, "footway"))
    net = make_network(xy, edges, via=via)

    sxy = rng.uniform(-30, 1020, size=(30, 2))
    cxy = rng.uniform(-30, 1020, size=(120, 2))
    cxy[:20] = sxy[:20] + rng.uniform(-8, 8, size=(20, 2))  # many on the stations' edges
    cxy[20] = (3050, 10 + 3000)  # island
    cxy[21] = (5000, 0)  # far
    st = stations_at([tuple(p) for p in sxy])
    polys = polygons(
        [
            [(200, 200), (330, 210), (300, 340), (210, 300)],
            [(600, 500), (700, 500), (700, 560), (600, 560)],
        ],
        ["p0", "p1"],
    )
    cmp = pd.concat([compounds_at([tuple(p) for p in cxy]), polys], ignore_index=True)
    return net, cmp, st


FAST_ROADS = Profile("fast_roads", 4.0, {"steps": 2.0, "residential": 0.7})


@pytest.mark.parametrize("profile", [ADULT, FAST_ROADS])
def test_random_lattice_matches_split_edge_model(
    profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    net, cmp, st = _random_lattice()
    expected = _oracle(net, profile, cmp, st)

    near = nearest_station(cmp, st, net, profile=profile).set_index("compound_id")
    best: dict[str, float] = {}
    for (cid, _sid), t in expected.items():
        best[cid] = min(best.get(cid, np.inf), t)
    for cid, r in near.iterrows():
        if cid in best:
            assert r.walk_min == pytest.approx(best[cid], abs=1e-9), cid
            assert expected[(cid, r.nearest_station_id)] == pytest.approx(best[cid], abs=1e-9)
    assert (
        near.loc["c20", "reason"] == "unreachable"
        and near.loc["c21", "reason"] == "far_from_network"
    )
    assert set(near.index[near.reason == ""]) == set(best)

    limit = 6.0
    # fixed batch sizes, dense runs split down to one station on a tiny budget, then no
    # crowded cells: every station in a min_only run with the stations of far-apart cells
    cases = ((None, None, None), (1, None, None), (4, None, None), (None, 500, None))
    for batch, budget, crowded in (*cases, (None, None, 10**9)):
        if budget is not None:
            monkeypatch.setattr(travel, "_BATCH_CELLS", budget)
        if crowded is not None:
            monkeypatch.setattr(travel, "_CROWDED", crowded)
        long = walk_times(cmp, st, net, profile=profile, limit_min=limit, batch_size=batch)
        got = {(a, b): t for a, b, t in long.itertuples(index=False)}
        want = {p: t for p, t in expected.items() if t <= limit}
        assert got.keys() == want.keys()
        for p, t in want.items():
            assert got[p] == pytest.approx(t, abs=1e-9)
    # the nearest from the long table is nearest_station's time, exactly
    first = long.groupby("compound_id", sort=False)["walk_min"].min()
    np.testing.assert_allclose(
        first.to_numpy(), near.loc[first.index, "walk_min"].to_numpy(), rtol=0, atol=1e-12
    )


# ---------------------------------------------------------------------------------------------
# compounds snapped once, reused


def _assert_identical(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same columns, dtypes and values, bit for bit (NaN equal to NaN)."""
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for col in a.columns:
        if a[col].dtype == np.float64:
            np.testing.assert_array_equal(
                a[col].to_numpy().view(np.int64), b[col].to_numpy().view(np.int64)
            )


def test_snapped_compounds_give_identical_results_for_every_profile() -> None:
    net, cmp, st = _random_lattice()
    origins = snap_compounds(cmp, net)
    for profile in (ADULT, ELDERLY, FAST_ROADS):  # one snap serves every profile
        _assert_identical(
            nearest_station(origins, st, net, profile=profile),
            nearest_station(cmp, st, net, profile=profile),
        )
        for limit in (3.0, 12.0):
            _assert_identical(
                walk_times(origins, st, net, profile=profile, limit_min=limit),
                walk_times(cmp, st, net, profile=profile, limit_min=limit),
            )
    near = nearest_station(origins, st, net, profile=ADULT).set_index("compound_id")
    assert near.loc["c20", "reason"] == "unreachable"
    assert near.loc["c21", "reason"] == "far_from_network"


def test_snapped_compounds_pickle_and_are_checked() -> None:
    net, cmp, st = _random_lattice()
    origins = pickle.loads(pickle.dumps(snap_compounds(cmp, net)))
    assert isinstance(origins, SnappedCompounds)
    _assert_identical(
        nearest_station(origins, st, net, profile=ADULT),
        nearest_station(cmp, st, net, profile=ADULT),
    )
    with pytest.raises(InputError, match="snap_compounds"):
        nearest_station(origins, st, net, profile=ADULT, entrances=st)
    with pytest.raises(InputError, match="another network"):
        walk_times(origins, st, grid(), profile=ADULT, limit_min=5.0)
    with pytest.raises(InputError, match="station layer is empty"):
        nearest_station(origins, st.iloc[:0], net, profile=ADULT)


def test_snapped_stations_give_identical_results() -> None:
    net, cmp, st = _random_lattice()
    origins = snap_compounds(cmp, net)
    st = pd.concat([st, points([(5000, 5000)], ["s_far"], "station_id")], ignore_index=True)
    placed = snap_layer(st, net)
    assert placed.id_column == "station_id" and list(placed.ids) == list(st["station_id"])
    assert list(placed.reason)[-1] == "far_from_network"
    for profile in (ADULT, ELDERLY):
        with pytest.warns(CoverageWarning, match="s_far"):
            a = nearest_station(origins, placed, net, profile=profile)
        with pytest.warns(CoverageWarning, match="s_far"):
            b = nearest_station(cmp, st, net, profile=profile)
        _assert_identical(a, b)
        with pytest.warns(CoverageWarning):
            a = walk_times(origins, placed, net, profile=profile, limit_min=9.0)
        with pytest.warns(CoverageWarning):
            b = walk_times(origins, st, net, profile=profile, limit_min=9.0)
        _assert_identical(a, b)
    with pytest.raises(InputError, match="another network"):
        nearest_station(cmp, placed, grid(), profile=ADULT)


def test_station_field_made_in_advance_gives_identical_results() -> None:
    net, cmp, st = _random_lattice()
    origins = snap_compounds(cmp, net)
    st = pd.concat([st, points([(5000, 5000)], ["s_far"], "station_id")], ignore_index=True)
    placed = snap_layer(st, net)
    for profile in (ADULT, ELDERLY, FAST_ROADS):
        graph = travel_graph(net, profile=profile)
        field = pickle.loads(pickle.dumps(travel.station_field(graph, placed)))
        assert "StationField" in repr(field) and len(repr(field)) < 500
        # the field's minutes are the node times of the stations, per CSR row
        at_nodes = travel.node_times(graph, placed).minutes
        np.testing.assert_array_equal(field.minutes[graph.rank], at_nodes)
        with pytest.warns(CoverageWarning, match="s_far"):
            a = nearest_station(
                origins, placed, net, profile=profile, with_access_point=True, station_field=field
            )
        with pytest.warns(CoverageWarning, match="s_far"):
            b = nearest_station(origins, placed, net, profile=profile, with_access_point=True)
        _assert_identical(a, b)
    # made from other stations, another profile or another network: refused
    near = snap_layer(st.iloc[:-1], net)
    field = travel.station_field(travel_graph(net, profile=ADULT), near)
    other = snap_layer(st.iloc[:-1].iloc[::-1], net)
    with pytest.raises(InputError, match="station_field"):
        nearest_station(origins, other, net, profile=ADULT, station_field=field)
    with pytest.raises(InputError, match="station_field"):
        nearest_station(origins, near, net, profile=ELDERLY, station_field=field)
    with pytest.raises(InputError, match="another network"):
        travel.station_field(travel_graph(grid(), profile=ADULT), placed)
    # no station snapped: nothing is reached, as without the field
    far = snap_layer(st.iloc[-1:], net)
    field = travel.station_field(travel_graph(net, profile=ADULT), far)
    assert np.isinf(field.minutes).all() and (field.entry < 0).all()
    with pytest.warns(CoverageWarning):
        a = nearest_station(origins, far, net, profile=ADULT, station_field=field)
    with pytest.warns(CoverageWarning):
        b = nearest_station(origins, far, net, profile=ADULT)
    _assert_identical(a, b)


# ---------------------------------------------------------------------------------------------
# real OSM extracts against networkx

_BIG = {"brazil-porto-alegre.osm.pbf", "monaco.osm.pbf"}
_FILES = sorted(p.name for p in OSM_DIR.glob("*.osm*")) if OSM_DIR.is_dir() else []


@functools.cache
def _load(name: str) -> WalkNetwork:
    from coverage.network import network_from_file

    return network_from_file(OSM_DIR / name)


def _nx_graph(net: WalkNetwork, profile: Profile) -> nx.Graph:
    e = net.edges
    factor = e["highway"].map(lambda h: profile.factors.get(h, 1.0)).to_numpy(dtype=float)
    w = e["length_m"].to_numpy() * factor / profile.speed_m_per_min
    g = nx.Graph()
    g.add_nodes_from(range(len(net.nodes)))
    for u, v, x in zip(e["u"].to_numpy(), e["v"].to_numpy(), w, strict=True):
        if not g.has_edge(u, v) or g[u][v]["weight"] > x:
            g.add_edge(int(u), int(v), weight=float(x))
    return g


def _clean_nodes(net: WalkNetwork) -> np.ndarray:
    """Nodes with an edge and no other edge passing within 0.5 m (no overlapping ways)."""
    index = edge_index(net)
    lonlat = net.nodes[["lon", "lat"]].to_numpy()
    pts = gpd.GeoSeries(gpd.points_from_xy(lonlat[:, 0], lonlat[:, 1]), crs="EPSG:4326")
    i_node, i_tree = index.tree.query(
        np.asarray(pts.to_crs(net.crs).values), predicate="dwithin", distance=0.5
    )
    e = index.walkable[i_tree]
    foreign = (index.u[e] != i_node) & (index.v[e] != i_node)
    bad = np.zeros(len(net.nodes), dtype=bool)
    bad[i_node[foreign]] = True
    has_edge = np.zeros(len(net.nodes), dtype=bool)
    has_edge[np.concatenate([index.u, index.v])] = True
    return np.flatnonzero(has_edge & ~bad)


def _at_nodes(net: WalkNetwork, idx: np.ndarray, prefix: str, col: str) -> gpd.GeoDataFrame:
    nodes = net.nodes.iloc[idx]
    return gpd.GeoDataFrame(
        {col: [f"{prefix}{i}" for i in idx]},
        geometry=gpd.points_from_xy(nodes.lon, nodes.lat),
        crs="EPSG:4326",
    )


@pytest.mark.parametrize("name", _FILES)
def test_real_network_matches_networkx(name: str) -> None:
    net = _load(name)
    profile = ELDERLY if "hsinchu" in name else ADULT
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    clean = _clean_nodes(net)
    big = name in _BIG  # more points on the large extracts
    s_idx = rng.choice(clean, size=min(200 if big else 25, len(clean) // 3), replace=False)
    c_idx = rng.choice(clean, size=min(3000 if big else 300, len(clean)), replace=False)
    st = _at_nodes(net, s_idx, "s", "station_id")
    cmp = _at_nodes(net, c_idx, "c", "compound_id")
    g = _nx_graph(net, profile)

    dist, paths = nx.multi_source_dijkstra(g, {int(i) for i in s_idx})
    got = nearest_station(cmp, st, net, profile=profile)
    assert got["compound_id"].tolist() == cmp["compound_id"].tolist()
    station_node = {f"s{i}": int(i) for i in s_idx}
    reached = np.array([int(c) in dist for c in c_idx])
    assert got["reason"].tolist() == ["" if r else "unreachable" for r in reached]
    want = np.array([dist[int(c)] for c in c_idx[reached]])
    np.testing.assert_allclose(got["walk_min"].to_numpy()[reached], want, rtol=0, atol=1e-6)
    for c, sid, t in zip(c_idx[reached], got["nearest_station_id"][reached], want, strict=True):
        if paths[int(c)][0] != station_node[sid]:  # a tie: the reported station is as near
            assert nx.dijkstra_path_length(g, station_node[sid], int(c)) == pytest.approx(
                t, abs=1e-6
            )

    limit = 10.0
    long = walk_times(cmp, st, net, profile=profile, limit_min=limit)
    for sid in st["station_id"].iloc[: 10 if big else 4]:
        ref = nx.single_source_dijkstra_path_length(g, station_node[sid], cutoff=limit)
        want_pairs = {f"c{c}": ref[int(c)] for c in c_idx if int(c) in ref}
        mine = long[long.station_id == sid].set_index("compound_id")["walk_min"]
        edge_cases = {c for c, t in want_pairs.items() if abs(t - limit) < 1e-9}
        assert set(mine.index) - edge_cases == set(want_pairs) - edge_cases
        for cid, t in want_pairs.items():
            if cid in mine.index:
                assert mine[cid] == pytest.approx(t, abs=1e-6)
    # nearest from the long table == nearest_station within the limit
    first = long.groupby("compound_id")["walk_min"].min()
    near = got.set_index("compound_id")["walk_min"]
    np.testing.assert_allclose(first.to_numpy(), near[first.index].to_numpy(), rtol=0, atol=1e-9)
    within = near[near <= limit - 1e-9].index
    assert set(within) <= set(first.index)


def _oracle(
    net: WalkNetwork,
    profile: Profile,
    compounds: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    entrances: gpd.GeoDataFrame | None = None,
) -> dict[tuple[str, str], float]:
    """Best time of every reachable (compound, station) pair in the split-edge model."""
    ap = access_points(compounds, net, entrances=entrances)
    g = _split_graph(net, profile, {"ap": snap_points(ap, net), "st": snap_points(stations, net)})
    out: dict[tuple[str, str], float] = {}
    for j, sid in enumerate(stations.station_id):
        if ("pt", ("st", j)) not in g:
            continue
        d = nx.single_source_dijkstra_path_length(g, ("pt", ("st", j)))
        for i, cid in enumerate(ap.compound_id):
            t = d.get(("pt", ("ap", i)))
            if t is not None and t < out.get((cid, sid), np.inf):
                out[(cid, sid)] = t
    return out


@pytest.mark.parametrize("name", ["beijing-haidian-cau.osm.bz2", "taiwan-hsinchu.osm.pbf"])
def test_real_polygon_compounds_with_gates_match_split_edge_model(name: str) -> None:
    from coverage.osmdata import compounds_from_osm, read_osm_features

    features = read_osm_features(OSM_DIR / name)
    compounds = compounds_from_osm(features)
    net = _load(name)
    rng = np.random.default_rng(5)
    st = _at_nodes(net, rng.choice(len(net.nodes), 15, replace=False), "s", "station_id")
    ap = access_points(compounds, net, entrances=features.entrances)
    assert {"gate", "entry"} <= set(ap["kind"])
    gated = set(ap.compound_id[ap.rule == "gates"])
    assert gated <= set(ap.compound_id[ap.kind == "gate"])
    assert not (set(ap.compound_id[ap.kind != "gate"]) & gated)  # gates replace the others
    # a hull of buildings is not shut in by its gates: they are extra access points
    hull = set(compounds.compound_id[compounds["source"] == "buildings"])
    assert not (hull & gated)

    expected = _oracle(net, ADULT, compounds, st, features.entrances)
    near = nearest_station(compounds, st, net, profile=ADULT, entrances=features.entrances)
    best: dict[str, float] = {}
    for (cid, _), t in expected.items():
        best[cid] = min(best.get(cid, np.inf), t)
    reached = near[near.reason == ""].set_index("compound_id")
    assert set(reached.index) == set(best)
    # the oracle snaps the access points again after a round trip through lon/lat: open
    # access points 1e-5 m either side of a change of nearest segment move by ~1e-7 min
    tol = 1e-6
    for cid, r in reached.iterrows():
        assert r.walk_min == pytest.approx(best[cid], abs=tol)
        assert expected[(cid, r.nearest_station_id)] == pytest.approx(best[cid], abs=tol)
    long = walk_times(
        compounds, st, net, profile=ADULT, limit_min=8.0, entrances=features.entrances
    )
    got = {(a, b): t for a, b, t in long.itertuples(index=False)}
    want = {p: t for p, t in expected.items() if t <= 8.0}
    assert got.keys() == want.keys() and len(want) > 10
    for p, t in want.items():
        assert got[p] == pytest.approx(t, abs=tol)
    # gates and boundary points snapped once give the same tables, bit for bit
    origins = snap_compounds(compounds, net, entrances=features.entrances)
    _assert_identical(nearest_station(origins, st, net, profile=ADULT), near)
    _assert_identical(walk_times(origins, st, net, profile=ADULT, limit_min=8.0), long)


# ---------------------------------------------------------------------------------------------
# node level: node_times, node_times_by_source


def test_node_times_on_a_hand_lattice() -> None:
    """3 x 3 lattice, 100 m step, 75 m/min; a source 50 m along edge 0-1, one 70 m up 5-8."""
    net = grid()
    src = snap_layer(points([(50, 0), (200, 170)], ["a", "b"], "site_id"), net)
    graph = travel_graph(net, profile=ADULT)
    got = travel.node_times(graph, src)
    metres = [50, 50, 150, 150, 150, 70, 230, 130, 30]
    nearest = [0, 0, 0, 0, 0, 1, 1, 1, 1]
    np.testing.assert_allclose(got.minutes, np.array(metres) / 75.0, atol=1e-9)
    assert got.source.tolist() == nearest and got.n_nodes == 9 and got.limit_min is None
    within = travel.node_times(graph, src, limit_min=1.9)
    reached = np.array(metres) / 75.0 <= 1.9
    np.testing.assert_allclose(within.minutes[reached], np.array(metres)[reached] / 75.0, atol=1e-9)
    assert np.isinf(within.minutes[~reached]).all()
    assert (within.source[~reached] == -1).all() and within.limit_min == 1.9
    back = pickle.loads(pickle.dumps(got))
    np.testing.assert_array_equal(back.minutes, got.minutes)
    assert len(repr(back)) < 500
    # every (source, node) within 4 minutes, by hand
    table = travel.node_times_by_source(graph, src, limit_min=4.0)
    a = [50, 50, 150, 150, 150, 250, 250, 250, 350]
    b = [370, 270, 170, 270, 170, 70, 230, 130, 30]
    want = sorted(
        (s, node, m / 75.0)
        for s, row in enumerate((a, b))
        for node, m in enumerate(row)
        if m / 75.0 <= 4.0
    )
    assert list(table.columns) == ["source", "node", "walk_min"]
    assert list(zip(table.source, table.node, strict=True)) == [(s, n) for s, n, _ in want]
    np.testing.assert_allclose(table.walk_min, [m for _, _, m in want], atol=1e-9)


def test_node_times_need_snapped_points_of_the_same_network() -> None:
    net = grid()
    graph = travel_graph(net, profile=ADULT)
    layer = points([(50, 0)], ["a"], "site_id")
    with pytest.raises(InputError, match="SnappedPoints"):
        travel.node_times(graph, layer)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="another network"):
        travel.node_times(graph, snap_layer(layer, grid(4)))
    with pytest.raises(InputError, match="positive"):
        travel.node_times_by_source(graph, snap_layer(layer, net), limit_min=0.0)


def _nx_with_sources(
    net: WalkNetwork, profile: Profile, src: SnappedCompounds
) -> tuple[nx.DiGraph, list[tuple[str, int]]]:
    """The edge table as a networkx graph plus one virtual node per source, with one-way arcs
    to both ends of each of its access points' edges (leg + partial length)."""
    g = _nx_graph(net, profile).to_directed()
    e = net.edges
    factor = e["highway"].map(lambda h: profile.factors.get(h, 1.0)).to_numpy(dtype=float)
    mpm = factor / profile.speed_m_per_min
    u, v, length = e["u"].to_numpy(), e["v"].to_numpy(), e["length_m"].to_numpy()
    virtual = [("src", i) for i in range(len(src))]
    for k in range(len(src.owner)):
        edge, along = int(src.edge[k]), float(src.along_m[k])
        leg = float(src.access_m[k]) / profile.speed_m_per_min
        for node, w in (
            (u[edge], along * mpm[edge]),
            (v[edge], (length[edge] - along) * mpm[edge]),
        ):
            s = virtual[int(src.owner[k])]
            if not g.has_edge(s, int(node)) or g[s][int(node)]["weight"] > leg + w:
                g.add_edge(s, int(node), weight=leg + w)
    return g, virtual


def _check_node_times_against_networkx(
    net: WalkNetwork, src: SnappedCompounds, profile: Profile, limit: float
) -> None:
    graph = travel_graph(net, profile=profile)
    g, virtual = _nx_with_sources(net, profile, src)
    per_source = {
        i: nx.single_source_dijkstra_path_length(g, s, weight="weight")
        for i, s in enumerate(virtual)
        if s in g
    }
    best = nx.multi_source_dijkstra_path_length(g, [s for s in virtual if s in g])
    got = travel.node_times(graph, src)
    n = len(net.nodes)
    want = np.array([best.get(i, np.inf) for i in range(n)])
    np.testing.assert_allclose(got.minutes, want, rtol=1e-9)
    found = np.isfinite(want)
    assert (got.source[~found] == -1).all()
    # the named source does reach the node in the best time
    named = [per_source[int(got.source[i])][i] for i in np.flatnonzero(found)]
    np.testing.assert_allclose(named, want[found], rtol=1e-9)
    limited = travel.node_times(graph, src, limit_min=limit)
    inside = want <= limit * (1 - 1e-9)
    np.testing.assert_allclose(limited.minutes[inside], want[inside], rtol=1e-9)
    assert np.isinf(limited.minutes[want > limit * (1 + 1e-9)]).all()
    # every (source, node) pair within the limit
    table = travel.node_times_by_source(graph, src, limit_min=limit, batch_size=7)
    expected = {
        (i, node): t
        for i, lengths in per_source.items()
        for node, t in lengths.items()
        if not isinstance(node, tuple) and t <= limit
    }
    pairs = dict(zip(zip(table.source, table.node, strict=True), table.walk_min, strict=True))
    sure = {k for k, t in expected.items() if t <= limit * (1 - 1e-9)}
    assert sure <= pairs.keys() <= expected.keys() | {k for k in pairs if pairs[k] > limit - 1e-6}
    np.testing.assert_allclose(
        [pairs[k] for k in sorted(sure)], [expected[k] for k in sorted(sure)], rtol=1e-9
    )
    # the default batches give the same table; the minimum over sources is node_times
    again = travel.node_times_by_source(graph, src, limit_min=limit)
    pd.testing.assert_frame_equal(again, table)
    low = table.groupby("node")["walk_min"].min()
    np.testing.assert_allclose(limited.minutes[low.index.to_numpy()], low.to_numpy(), rtol=0)


def test_node_times_match_networkx_on_a_random_lattice() -> None:
    net, cmp, _st = _random_lattice()
    src = snap_compounds(cmp, net)  # several access points per polygon compound
    assert np.bincount(src.owner).max() > 1
    for profile in (ADULT, ELDERLY):
        _check_node_times_against_networkx(net, src, profile, 6.0)


def test_node_times_match_networkx_on_a_real_extract() -> None:
    net = _load("beijing-haidian-cau.osm.bz2")
    rng = np.random.default_rng(7)
    lines = np.asarray(net.edges.geometry.values, dtype=object)
    pick = rng.integers(0, len(lines), 40)
    pts = shapely.line_interpolate_point(lines[pick], rng.random(40), normalized=True)
    geoms = np.concatenate([pts[:30], shapely.buffer(pts[30:], 0.0004, quad_segs=2)])
    layer = gpd.GeoDataFrame(
        {"compound_id": [f"c{i}" for i in range(40)]}, geometry=geoms, crs="EPSG:4326"
    )
    _check_node_times_against_networkx(net, snap_compounds(layer, net), ELDERLY, 5.0)


@pytest.mark.parametrize("batch_size", [None, 3])
def test_station_runs_never_share_a_node_within_reach(batch_size: int | None) -> None:
    # walk_times runs one min_only search per separate run: the boxes (station +- reach) of
    # its stations must not overlap, or a node would keep only the nearer of two stations
    rng = np.random.default_rng(11)
    reach = 100.0
    x = np.r_[rng.uniform(0, 3000, 300), rng.normal(500, 40, 200)]  # spread and clustered
    y = np.r_[rng.uniform(0, 2000, 300), rng.normal(700, 40, 200)]
    runs = list(travel._station_runs(x, y, reach, batch_size))
    every = np.sort(np.concatenate([r for r, _ in runs]))
    np.testing.assert_array_equal(every, np.arange(len(x)))
    for r, separate in runs:
        assert batch_size is None or len(r) <= batch_size
        if not separate:
            continue
        dx = np.abs(x[r][:, None] - x[r][None, :])
        dy = np.abs(y[r][:, None] - y[r][None, :])
        apart = (dx > 2 * reach) | (dy > 2 * reach)
        np.fill_diagonal(apart, True)
        assert apart.all()
    if batch_size is None:  # far fewer searches than stations; the cluster is one dense run
        assert sum(separate for _, separate in runs) <= 4 * travel._CROWDED
        assert len(runs) < len(x) / 4


def test_separate_runs_of_far_apart_stations_match_networkx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a short limit on a whole city: many stations share each min_only search
    name = "brazil-porto-alegre.osm.pbf"
    if name not in _FILES:
        pytest.skip(f"{name} not in {OSM_DIR}")
    net = _load(name)
    rng = np.random.default_rng(5)
    clean = _clean_nodes(net)
    s_idx = rng.choice(clean, size=80, replace=False)
    c_idx = rng.choice(clean, size=3000, replace=False)
    st = _at_nodes(net, s_idx, "s", "station_id")
    cmp = _at_nodes(net, c_idx, "c", "compound_id")
    runs: list[tuple[int, bool]] = []
    make_runs = travel._station_runs

    def spy(*args: object) -> Iterator[tuple[np.ndarray, bool]]:
        for r, separate in make_runs(*args):  # type: ignore[arg-type]
            runs.append((len(r), separate))
            yield r, separate

    monkeypatch.setattr(travel, "_station_runs", spy)
    limit = 4.0
    long = walk_times(cmp, st, net, profile=ADULT, limit_min=limit)
    assert max(n for n, separate in runs if separate) >= 10
    g = _nx_graph(net, ADULT)
    want = {}
    for i in s_idx:
        ref = nx.single_source_dijkstra_path_length(g, int(i), cutoff=limit)
        want |= {(f"c{c}", f"s{i}"): ref[int(c)] for c in c_idx if int(c) in ref}
    got = {(a, b): t for a, b, t in long.itertuples(index=False)}
    edge_cases = {p for p, t in want.items() if abs(t - limit) < 1e-9}
    assert got.keys() - edge_cases == want.keys() - edge_cases
    for p, t in want.items():
        if p in got:
            assert got[p] == pytest.approx(t, abs=1e-6)
