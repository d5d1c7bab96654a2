"""Tests for coverage.isochrones: honest walk-time circles.

The polygons are checked against walk times computed independently of the polygon code:
points every 10 m along every edge, timed by the library's exact search
(:func:`coverage.travel.walk_times`, the same as the analysis).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree

from _lattice import make_network, points
from coverage import isochrones as iso
from coverage import snap, travel
from coverage.config import DEFAULT_PROFILES
from coverage.errors import InputError
from coverage.network import network_from_file
from coverage.walknetwork import WalkNetwork

OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
ADULT = DEFAULT_PROFILES["adult"]
MINUTES = (5.0, 10.0, 15.0)
FRONTAGE = 50.0
SPACING_M = 10.0

_NETS: dict[str, WalkNetwork] = {}


def _net(name: str) -> WalkNetwork:
    if name not in _NETS:
        _NETS[name] = network_from_file(OSM / name)
    return _NETS[name]


def _random_stations(net: WalkNetwork, k: int, seed: int) -> gpd.GeoDataFrame:
    """Stations on random edges of the largest component, a few metres off the street."""
    rng = np.random.default_rng(seed)
    edges = net.edges
    comp = net.nodes["component"].to_numpy()[edges["u"].to_numpy()]
    pick = rng.choice(np.flatnonzero(comp == 0), size=k, replace=False)
    geoms = edges.geometry.to_crs(net.crs).to_numpy()[pick]
    pts = shapely.line_interpolate_point(geoms, rng.random(k), normalized=True)
    pts = shapely.points(shapely.get_coordinates(pts) + rng.uniform(-8, 8, size=(k, 2)))
    return gpd.GeoDataFrame(
        {"station_id": [f"S{i}" for i in range(k)]}, geometry=pts, crs=net.crs
    ).to_crs(4326)


def _sample_points(net: WalkNetwork) -> gpd.GeoDataFrame:
    """Points every 10 m (at most) along every edge, ends included, in the metric CRS."""
    geoms = net.edges.geometry.to_crs(net.crs).to_numpy()
    length = shapely.length(geoms)
    n = np.maximum(np.ceil(length / SPACING_M).astype(np.int64) + 1, 2)
    owner = np.repeat(np.arange(len(geoms)), n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    frac = k / (n[owner] - 1)
    pts = shapely.line_interpolate_point(geoms[owner], frac, normalized=True)
    return gpd.GeoDataFrame(
        {"compound_id": [f"p{i}" for i in range(len(pts))]}, geometry=pts, crs=net.crs
    )


def _shares(
    polygon: shapely.Geometry | None,
    xy: np.ndarray,
    t: np.ndarray,
    limit: float,
    slack_min: float,
) -> tuple[float, float, int, int]:
    """(share of points within limit - 0.01 outside, misclassified share of far points)."""
    inside = (
        shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])
        | shapely.intersects_xy(polygon, xy[:, 0], xy[:, 1])
        if polygon is not None
        else np.zeros(len(xy), bool)
    )
    near = t <= limit - 0.01
    far = t > limit + slack_min
    reached = np.flatnonzero(t <= limit)
    if far.any() and len(reached):
        tree = cKDTree(xy[reached])
        # another street reached within T passes within the frontage (sampled every 10 m)
        d, _ = tree.query(xy[far & inside], k=1, distance_upper_bound=FRONTAGE + SPACING_M)
        excused = np.isfinite(d)
    else:
        excused = np.zeros(int((far & inside).sum()), bool)
    outside_share = float((near & ~inside).sum() / max(near.sum(), 1))
    wrong_share = float((~excused).sum() / max(far.sum(), 1))
    return outside_share, wrong_share, int(near.sum()), int(far.sum())


NETWORKS = sorted(p.name for p in OSM.glob("*.osm*"))
BIG = {"brazil-porto-alegre.osm.pbf", "monaco.osm.pbf"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in NETWORKS],
)
def test_sampled_points_agree_with_polygons(
    name: str, record_property: Callable[[str, object], None]
) -> None:
    net = _net(name)
    stations = _random_stations(net, 4, seed=len(name))
    samples = _sample_points(net)
    xy = shapely.get_coordinates(samples.geometry.to_numpy())
    snapped = snap.snap_compounds(samples.to_crs(4326), net, max_snap_m=1.0)
    slack = FRONTAGE / ADULT.speed_m_per_min
    long = travel.walk_times(
        snapped, stations, net, profile=ADULT, limit_min=max(MINUTES) + slack + 1.0
    )
    pos = pd.Index(samples["compound_id"]).get_indexer(long["compound_id"])
    near = travel.nearest_station(snapped, stations, net, profile=ADULT)
    t_near = near["walk_min"].fillna(np.inf).to_numpy()

    report = []
    overlap = iso.isochrones(net, stations, profile=ADULT, minutes=MINUTES, mode="overlap")
    overlap = overlap.to_crs(net.crs)
    for sid in stations["station_id"]:
        t = np.full(len(samples), np.inf)
        mine = (long["station_id"] == sid).to_numpy()
        t[pos[mine]] = long["walk_min"].to_numpy()[mine]
        for minutes in MINUTES:
            row = overlap[(overlap.station_id == sid) & (overlap.minutes == minutes)]
            poly = row.geometry.iloc[0] if len(row) and row.geometry.iloc[0] else None
            out_share, wrong, n_near, n_far = _shares(poly, xy, t, minutes, slack)
            report.append((sid, minutes, out_share, wrong, n_near, n_far))
    dissolved = iso.isochrones(net, stations, profile=ADULT, minutes=MINUTES, mode="dissolve")
    dissolved = dissolved.to_crs(net.crs)
    for minutes in MINUTES:
        poly = dissolved.loc[dissolved.minutes == minutes].geometry.iloc[0]
        out_share, wrong, n_near, n_far = _shares(poly, xy, t_near, minutes, slack)
        report.append(("dissolve", minutes, out_share, wrong, n_near, n_far))
    frame = pd.DataFrame(
        report, columns=["station", "minutes", "outside", "misclassified", "n_within", "n_far"]
    )
    # shown at the end of the test run (tests/conftest.py)
    record_property(
        "report",
        f"isochrones {name}: {len(samples)} points; reachable within T - 0.01 min but "
        f"outside: max {frame.outside.max():.4%}; farther than T + frontage and inside "
        f"without a reached street within the frontage: max {frame.misclassified.max():.4%} "
        f"(mean {frame.misclassified.mean():.4%})",
    )
    assert frame.outside.max() == 0.0, frame[frame.outside > 0]
    assert frame.misclassified.max() < 0.01, frame[frame.misclassified >= 0.01]
    assert frame.n_within.sum() > 0


# --------------------------------------------------------------------------------------------
# hand-made networks


def _river_lattice() -> WalkNetwork:
    """A 9 x 9 lattice (50 m) whose row band y = 200 .. 250 is a river: no vertical edges
    cross it except the bridge at x = 400 (the far east)."""
    k, step = 9, 50.0
    xy = [(c * step, r * step) for r in range(k) for c in range(k)]
    edges: list[tuple[int, int] | tuple[int, int, str]] = [
        (r * k + c, r * k + c + 1) for r in range(k) for c in range(k - 1)
    ]
    for r in range(k - 1):
        for c in range(k):
            if r == 4 and c != k - 1:  # the river between rows 4 and 5
                continue
            edges.append((r * k + c, (r + 1) * k + c))
    return make_network(xy, edges)


def test_a_river_is_not_jumped() -> None:
    net = _river_lattice()
    station = points([(0.0, 190.0)], ["S"], "station_id")  # west, on the south bank
    out = iso.isochrones(
        net, station, profile=ADULT, minutes=[5.0], frontage_m=20.0, fill_holes_m2=0.0
    ).to_crs(net.crs)
    poly = out.geometry.iloc[0]
    from _lattice import X0, Y0

    def inside(x: float, y: float) -> bool:
        return bool(shapely.intersects_xy(poly, X0 + x, Y0 + y))

    # 375 m of walking: the south bank up to x = 375 along y = 200 is reached ...
    assert inside(0.0, 200.0) and inside(300.0, 200.0)
    # ... the north bank right across the river (60 m away) is not: the bridge is 800 m
    # of walking away (400 east, 50 north, 400 back west)
    assert not inside(0.0, 260.0)
    assert not inside(100.0, 300.0)
    # the straight-line circle of 375 m would cover a lot of the north bank
    assert float(out["circle_share"].iloc[0]) < 0.5


def test_partial_edges_cut_at_the_exact_time() -> None:
    # one straight 1000 m path; station 10 m off it at 300 m: reach 375 - 10 = 365 m each way
    net = make_network([(0.0, 0.0), (1000.0, 0.0)], [(0, 1)])
    station = points([(300.0, 10.0)], ["S"], "station_id")
    pieces = iso.street_pieces(net, station, profile=ADULT, minutes=[5.0]).to_crs(net.crs)
    assert len(pieces) == 1
    assert pieces["from_m"].iloc[0] == pytest.approx(0.0)
    assert pieces["to_m"].iloc[0] == pytest.approx(665.0, abs=1e-6)
    assert pieces.geometry.iloc[0].length == pytest.approx(665.0, abs=1e-3)
    # the station's own edge is reached from inside: both directions
    station = points([(500.0, 0.0)], ["S"], "station_id")
    pieces = iso.street_pieces(net, station, profile=ADULT, minutes=[5.0])
    assert pieces["from_m"].iloc[0] == pytest.approx(125.0, abs=1e-6)
    assert pieces["to_m"].iloc[0] == pytest.approx(875.0, abs=1e-6)


def test_split_gives_each_piece_to_its_nearest_station() -> None:
    net = make_network([(0.0, 0.0), (1000.0, 0.0)], [(0, 1)])
    stations = points([(100.0, 0.0), (500.0, 0.0)], ["A", "B"], "station_id")
    pieces = iso.street_pieces(net, stations, profile=ADULT, minutes=[15.0], mode="split")
    got = pieces.set_index("station_id")
    assert got.loc["A", "from_m"] == pytest.approx(0.0)
    assert got.loc["A", "to_m"] == pytest.approx(300.0)  # midway between the stations
    assert got.loc["B", "from_m"] == pytest.approx(300.0)
    assert got.loc["B", "to_m"] == pytest.approx(1000.0)


def _mid_network() -> tuple[WalkNetwork, gpd.GeoDataFrame]:
    net = _net("beijing-haidian-cau.osm.bz2")
    return net, _random_stations(net, 6, seed=3)


def test_modes_agree_rings_stack_and_polygons_are_valid() -> None:
    net, stations = _mid_network()
    kw = {"profile": ADULT, "minutes": MINUTES}
    dissolve = iso.isochrones(net, stations, mode="dissolve", **kw).to_crs(net.crs)
    split = iso.isochrones(net, stations, mode="split", **kw).to_crs(net.crs)
    # without hole filling, the overlap circles cover the same streets too
    overlap = iso.isochrones(net, stations, mode="overlap", fill_holes_m2=0.0, **kw)
    overlap = overlap.to_crs(net.crs)
    unfilled = iso.isochrones(net, stations, mode="dissolve", fill_holes_m2=0.0, **kw)
    unfilled = unfilled.to_crs(net.crs)
    rings = iso.isochrones(net, stations, mode="dissolve", rings=True, **kw).to_crs(net.crs)
    for frame in (dissolve, split, overlap, rings):
        geoms = frame.geometry.dropna().to_numpy()
        assert shapely.is_valid(geoms).all()
    for minutes in MINUTES:
        d = dissolve.loc[dissolve.minutes == minutes].geometry.iloc[0]
        s = shapely.union_all(split.loc[split.minutes == minutes].geometry.dropna().to_numpy())
        o = shapely.union_all(overlap.loc[overlap.minutes == minutes].geometry.dropna().to_numpy())
        assert shapely.symmetric_difference(d, s).area < 0.001 * d.area
        u = unfilled.loc[unfilled.minutes == minutes].geometry.iloc[0]
        assert shapely.symmetric_difference(u, o).area < 0.001 * u.area
        stacked = shapely.union_all(rings.loc[rings.minutes <= minutes].geometry.to_numpy())
        assert shapely.symmetric_difference(d, stacked).area < 0.001 * d.area
    # rings do not overlap each other
    r = rings.geometry.to_numpy()
    assert shapely.intersection(r[0], r[1]).area < 0.001 * r[1].area
    # bigger threshold, bigger circle
    assert (np.diff(dissolve.sort_values("minutes").area_km2) > 0).all()


def test_households_come_from_the_walk_times(tmp_path: Path) -> None:
    net, stations = _mid_network()
    rng = np.random.default_rng(5)
    comp = _random_stations(net, 40, seed=9).rename(columns={"station_id": "compound_id"})
    comp["households"] = rng.integers(50, 900, len(comp)).astype(float)
    near = travel.nearest_station(comp, stations, net, profile=ADULT)
    dissolve = iso.isochrones(
        net, stations, profile=ADULT, mode="dissolve", compounds=comp, service="party"
    )
    for minutes in MINUTES:
        covered = near["walk_min"] <= minutes
        row = dissolve[dissolve.minutes == minutes].iloc[0]
        assert row["compounds"] == int(covered.sum())
        assert row["households"] == pytest.approx(comp.loc[covered.to_numpy(), "households"].sum())
        assert row["service"] == "party"
    split = iso.isochrones(net, stations, profile=ADULT, mode="split", compounds=comp)
    for minutes in MINUTES:
        assert split.loc[split.minutes == minutes, "households"].sum() == pytest.approx(
            dissolve.loc[dissolve.minutes == minutes, "households"].iloc[0]
        )
    long = travel.walk_times(comp, stations, net, profile=ADULT, limit_min=15.0)
    overlap = iso.isochrones(net, stations, profile=ADULT, mode="overlap", compounds=comp)
    row = overlap[(overlap.station_id == "S1") & (overlap.minutes == 10.0)].iloc[0]
    mine = long[(long.station_id == "S1") & (long.walk_min <= 10.0)]
    assert row["compounds"] == len(mine)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"minutes": [10, 5]}, "minutes"),
        ({"minutes": [5, 5]}, "minutes"),
        ({"minutes": [0, 5]}, "minutes"),
        ({"frontage_m": 0.0}, "frontage_m"),
        ({"frontage_m": -5.0}, "frontage_m"),
        ({"frontage_m": 800.0}, "frontage_m"),
        ({"fill_holes_m2": -1.0}, "fill_holes_m2"),
        ({"mode": "hull"}, "mode"),
    ],
)
def test_bad_options_are_refused_naming_the_key(options: dict[str, object], key: str) -> None:
    net = make_network([(0.0, 0.0), (100.0, 0.0)], [(0, 1)])
    station = points([(50.0, 0.0)], ["S"], "station_id")
    with pytest.raises(InputError) as err:
        iso.isochrones(net, station, profile=ADULT, **options)  # type: ignore[arg-type]
    assert key in str(err.value)


def test_a_station_far_from_the_network_gets_a_row_with_a_reason() -> None:
    net = make_network([(0.0, 0.0), (100.0, 0.0)], [(0, 1)])
    stations = points([(50.0, 0.0), (50.0, 2000.0)], ["near", "far"], "station_id")
    out = iso.isochrones(net, stations, profile=ADULT, minutes=[5.0], mode="overlap")
    got = out.set_index("station_id")
    assert got.loc["near", "reason"] == ""
    assert got.loc["far", "reason"] == "far_from_network"
    assert got.loc["far"].geometry is None
    assert got.loc["near", "area_km2"] > 0


def test_small_holes_are_filled_large_ones_kept() -> None:
    # a 200 m square block: hole of (200 - 2*20)^2 = 25,600 m2 with a 20 m frontage
    xy = [(0.0, 0.0), (200.0, 0.0), (200.0, 200.0), (0.0, 200.0)]
    net = make_network(xy, [(0, 1), (1, 2), (2, 3), (3, 0)])
    station = points([(0.0, 0.0)], ["S"], "station_id")
    kw = {"profile": ADULT, "minutes": [15.0], "frontage_m": 20.0}
    kept = iso.isochrones(net, station, fill_holes_m2=10_000.0, **kw).to_crs(net.crs)
    filled = iso.isochrones(net, station, fill_holes_m2=30_000.0, **kw).to_crs(net.crs)
    assert len(kept.geometry.iloc[0].interiors) == 1
    assert len(filled.geometry.iloc[0].interiors) == 0
    assert filled.geometry.iloc[0].area == pytest.approx(240.0**2, rel=0.01)


@pytest.mark.parametrize(
    ("value", "ok"), [(50, True), (500, True), (0, False), (-3, False), (501, False)]
)
def test_study_frontage_key_is_checked(value: float, ok: bool) -> None:
    from coverage.config import study_from_dict
    from coverage.errors import StudyError

    data = {
        "name": "x",
        "network": {"place": "池州"},
        "services": {"party": {"stations": __file__}},
        "frontage_m": value,
        "fill_holes_m2": 0,
    }
    if ok:
        study = study_from_dict(data)
        assert study.frontage_m == value and study.fill_holes_m2 == 0
    else:
        with pytest.raises(StudyError, match="frontage_m"):
            study_from_dict(data)


def test_shared_blocks_give_the_same_circles_as_plain_unions() -> None:
    """Blocks reached whole are widened once and shared; the circles stay the same sets."""
    net = _net("beijing-haidian-cau.osm.bz2")
    stations = _random_stations(net, 12, seed=11)
    graph = travel.travel_graph(net, profile=ADULT)
    sp = snap.snap_layer(stations, net, id_column="station_id")
    pieces = iso._street_pieces(net, graph, sp, MINUTES, "overlap")
    index = snap.edge_index(net)
    shapes, group, stage, shape = iso.share_blocks(
        index, pieces, n_stages=len(MINUTES), frontage_m=FRONTAGE, block_m=100.0
    )
    blocks = shapely.get_dimensions(shapes) == 2
    assert blocks.sum() > 0  # some blocks are shared ...
    assert len(group) < len(pieces)  # ... and replace many pieces
    keys, polys = iso.circles_from_pieces(
        shapes[shape],
        group,
        stage=stage,
        n_stages=len(MINUTES),
        identity=group * len(shapes) + shape,
        shape=shape,
        frontage_m=FRONTAGE,
        fill_holes_m2=0.0,
    )
    # independent: every piece cut and widened on its own, one union per station and minute
    lines = iso._cut(index, pieces.edge, pieces.lo, pieces.hi)
    widened = shapely.buffer(lines, FRONTAGE, quad_segs=iso._QUAD_SEGS)
    plain_key = pieces.group * len(MINUTES) + pieces.minutes_i
    assert np.array_equal(keys, np.unique(plain_key))
    for key, poly in zip(keys, polys, strict=True):
        plain = shapely.union_all(widened[plain_key == key])
        assert shapely.symmetric_difference(plain, poly).area < 1e-6 * plain.area


def test_threads_deal_rows_in_turn_and_keep_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iso, "_THREADS", 3)
    pts = shapely.points(np.arange(10.0), np.zeros(10))
    out = iso._in_threads(shapely.get_x, pts, min_rows=2)
    assert np.array_equal(out, np.arange(10.0))
    grid = np.array(
        [[shapely.box(i, 0, i + 1, 1), shapely.box(i + 1, 0, i + 2, 1)] for i in range(5)]
    )
    unions = iso._in_threads(shapely.union_all, grid, axis=1, min_rows=2)
    assert np.allclose(shapely.area(unions), 2.0)
    assert np.allclose(shapely.bounds(unions)[:, 0], np.arange(5.0))
