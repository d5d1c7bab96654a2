"""The edge of the map data: ``outside_network_data`` (issue 7, the Beijing case)."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

import coverage as cp
from coverage import dataedge, travel
from coverage.config import load_study
from coverage.errors import CoverageWarning
from coverage.network import network_from_file

OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
CAU = OSM / "beijing-haidian-cau.osm.bz2"
NANJING = OSM / "nanjing-xinjiekou.osm.bz2"
CAU_BOUNDS = (116.34403, 39.99767, 116.35974, 40.00888)

needs_data = pytest.mark.skipif(not CAU.is_file(), reason="shared OSM extracts not found")

# the Beijing case: both headline gaps lie 80-110 m north of the extract's bounds
# (the representative points of their OSM polygons)
BEYOND = {
    "B1": ("双泉嘉苑", 116.35332, 40.00989, 1045),
    "B2": ("学士居", 116.35955, 40.00961, 300),
    "FAR": ("3公里外", 116.3519, 40.00888 + 0.027, 100),  # 3 km north of the bounds
    "IN": ("中心小区", 116.3519, 40.0033, 500),
}


def _study(folder: Path, *, minutes: str = "[5, 10, 15]") -> Path:
    rows = ["id,name,lon,lat,households"] + [
        f"{k},{n},{lon},{lat},{hh}" for k, (n, lon, lat, hh) in BEYOND.items()
    ]
    (folder / "compounds.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "party.csv").write_text(
        "id,name,lon,lat\nP1,a,116.3525,40.0035\nP2,b,116.3468,40.0062\n"
        f"P3,outside,116.3519,{40.00888 + 0.03}\n",
        encoding="utf-8",
    )
    path = folder / "study.toml"
    path.write_text(
        f'name = "edge"\n[network]\nosm_file = "{CAU.as_posix()}"\n'
        '[compounds]\npath = "compounds.csv"\n'
        '[services.party]\nlabel_zh = "党群服务站"\nstations = "party.csv"\n'
        f"minutes = {minutes}\n",
        encoding="utf-8",
    )
    return path


def test_geod_check_of_the_case() -> None:
    # the two compounds really are 80-110 m beyond the bounds (independent geodesic check)
    geod = Geod(ellps="WGS84")
    for key in ("B1", "B2"):
        _, lon, lat, _ = BEYOND[key]
        metres = geod.inv(lon, CAU_BOUNDS[3], lon, lat)[2]
        assert 80 <= metres <= 115


@needs_data
def test_extract_bounds_recorded_and_cached(tmp_path: Path) -> None:
    net = network_from_file(CAU)
    area = dataedge.data_extent(net)
    assert area is not None and area.bounds == pytest.approx(CAU_BOUNDS)
    # an export keeps whole ways crossing its box: the network reaches beyond the bounds
    assert net.nodes["lat"].max() > CAU_BOUNDS[3]
    # the cache keeps it (format version 4)
    study = load_study(_study(tmp_path))
    cached = cp.network_for_study(study, cache_dir=tmp_path / "cache")
    again = cp.network_for_study(study, cache_dir=tmp_path / "cache")
    assert again.meta["from_cache"] and not cached.meta["from_cache"]
    assert dataedge.data_extent(again).equals_exact(area, tolerance=1e-7)


@needs_data
def test_extent_without_bounds_is_the_hull_of_the_nodes() -> None:
    # the Nanjing export has no <bounds> line
    area = dataedge.data_extent(network_from_file(NANJING))
    assert isinstance(area, shapely.Polygon)
    net = network_from_file(NANJING)
    points = shapely.points(net.nodes["lon"].to_numpy(), net.nodes["lat"].to_numpy())
    assert shapely.covers(area.buffer(1e-9), points).all()
    # a hull, not a box: it has more than four corners and is smaller than its envelope
    assert len(area.exterior.coords) > 5 and area.area < area.envelope.area


@needs_data
def test_beijing_compounds_beyond_the_extract(tmp_path: Path) -> None:
    study = load_study(_study(tmp_path))
    net = cp.network_for_study(study, cache_dir=tmp_path / "cache")
    data = cp.load_inputs(study, network=net)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", CoverageWarning)
        analysis = cp.analyze(study, net, data)
    edge = [w for w in record if "outside_network_data" in str(w.message)]
    assert len(edge) == 1  # one warning for the study
    message = str(edge[0].message)
    assessed = analysis.services["party"].assessed.set_index("compound_id")
    n_out = int((assessed["reason"] == "outside_network_data").sum())
    assert f"{n_out} 个小区、1 个站点" in message
    assert "OSM extract reaching at least 1,125 m" in message
    assert "双泉嘉苑 (B1)" in message or bool(assessed.loc["B1", "covered_15min"])

    # what the travel step alone says (today's reasons): unreachable / far_from_network
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoverageWarning)
        placed = cp.snap.snap_layer(data.stations["party"], net, id_column="station_id")
        snapped = cp.snap.snap_study_compounds(study, data.compounds, net)
        raw = travel.nearest_station(
            snapped, placed, net, profile=study.profiles[study.services["party"].profile]
        ).set_index("compound_id")
    assert raw.loc["FAR", "reason"] == "far_from_network"
    for key in ("B1", "B2", "FAR"):
        if not bool(assessed.loc[key, "covered_15min"]):
            assert assessed.loc[key, "reason"] == "outside_network_data", key
    assert assessed.loc["FAR", "reason"] == "outside_network_data"
    assert {raw.loc[k, "reason"] for k in ("B1", "B2")} <= {"", "unreachable", "far_from_network"}
    # the compound inside the bounds keeps its own reason
    assert assessed.loc["IN", "reason"] in ("", "beyond_threshold")
    # the station 3 km outside the data is flagged too
    loads = analysis.services["party"].loads.set_index("station_id")
    assert loads.loc["P3", "reason"] == "outside_network_data"
    assert loads.loc["P1", "reason"] == ""


@needs_data
def test_which_reasons_the_edge_explains() -> None:
    # points 50 m, 100 m and 400 m east of the CAU extract's west edge, one 100 m west of it
    # (outside) and one in the middle; an unreachable point counts only on a piece of network
    # that reaches the edge (a real island inside the data stays unreachable)
    net = network_from_file(CAU)
    west, south, east, north = CAU_BOUNDS
    mid = (south + north) / 2
    geod = Geod(ellps="WGS84")

    def east_of_west_edge(metres: float) -> shapely.Point:
        lon, lat, _ = geod.fwd(west, mid, 90 if metres > 0 else 270, abs(metres))
        return shapely.Point(lon, lat)

    reasons = [
        "far_from_network",
        "far_from_network",
        "far_from_network",
        "unreachable",
        "unreachable",
        "beyond_threshold",
        "no_access",
    ]
    points = gpd.GeoDataFrame(
        {"reason": reasons},
        geometry=[
            east_of_west_edge(50),
            east_of_west_edge(400),
            shapely.Point((west + east) / 2, mid),
            east_of_west_edge(100),
            east_of_west_edge(100),
            east_of_west_edge(-100),
            east_of_west_edge(-100),
        ],
        crs=4326,
    )
    pos = dataedge.edge_position(points, net)
    assert pos["outside"].tolist() == [False] * 5 + [True, True]
    assert pos["edge_m"].iloc[:5].tolist() == pytest.approx([50, 400, 622, 100, 100], abs=5)
    pieces = np.array([False, False, False, True, False, False, False])
    got = dataedge.mark_outside_network_data(
        points, pos, reach_m=1125.0, max_snap_m=300.0, at_edge_piece=pieces
    )["reason"].tolist()
    assert got == [
        "outside_network_data",  # a way within 300 m may lie beyond the edge
        "far_from_network",  # every way within 300 m is inside the data: truly far
        "far_from_network",
        "outside_network_data",  # on a way the extract cut
        "unreachable",  # an island wholly inside the data
        "outside_network_data",
        "no_access",  # the study's access rule, not the data
    ]
    # a network without a known data area changes nothing
    bare = cp.network.WalkNetwork(net.nodes, net.edges, net.crs, {})
    pos = dataedge.edge_position(points, bare)
    assert not pos["outside"].any() and np.isinf(pos["edge_m"]).all()
    same = dataedge.mark_outside_network_data(
        points, pos, reach_m=1125.0, max_snap_m=300.0, at_edge_piece=pieces
    )
    pd.testing.assert_frame_equal(pd.DataFrame(same), pd.DataFrame(points))


def test_pieces_at_edge_on_a_lattice_with_an_island() -> None:
    from _lattice import grid, points, wgs

    # a 1 km street grid (0..1000 m) with an island way (420..480 m, y = 430) in its middle;
    # the data area is the grid's box, 10 m wider
    lattice = grid(k=11, step=100.0, extra=[(420.0, 430.0), (480.0, 430.0)])
    area = shapely.Polygon(
        [wgs(x, y) for x, y in [(-10, -10), (1010, -10), (1010, 1010), (-10, 1010)]]
    )
    net = cp.network.WalkNetwork(
        lattice.nodes, lattice.edges, lattice.crs, dataedge.extent_meta(area)
    )
    layer = points([(450.0, 431.0), (50.0, 1.0), (5000.0, 5000.0)], ["island", "grid", "far"], "id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoverageWarning)  # "far" is far from the network
        snapped = cp.snap.snap_layer(layer, net, id_column="id")
    got = dataedge.pieces_at_edge(snapped, net, tolerance_m=300.0)
    assert got.tolist() == [False, True, False]
    # with a tolerance beyond the island's 420 m from the edge, it reaches the edge too
    assert dataedge.pieces_at_edge(snapped, net, tolerance_m=450.0).tolist() == [True, True, False]


def test_walk_reach_of_a_study(tmp_path: Path) -> None:
    study = load_study(_study(tmp_path, minutes="[5, 10, 20]")) if CAU.is_file() else None
    if study is None:
        pytest.skip("shared OSM extracts not found")
    # 20 min at 4.5 km/h (adult; steps x1.5 slow it, never speed it up) = 1,500 m
    assert dataedge.walk_reach_m(study) == pytest.approx(1500.0)
    big = dataedge.enlarge_area(shapely.box(*CAU_BOUNDS), 1500.0)
    geod = Geod(ellps="WGS84")
    w, _, _, n = big.bounds
    assert geod.inv(CAU_BOUNDS[0], 40.0, w, 40.0)[2] == pytest.approx(1500, rel=2e-3)
    assert geod.inv(116.35, CAU_BOUNDS[3], 116.35, n)[2] == pytest.approx(1500, rel=2e-3)


def test_edge_warning_in_the_study_language() -> None:
    with pytest.warns(CoverageWarning) as record:
        dataedge.warn_outside_network_data(["Block A (c1)"], ["Hall (s1)"], reach_m=1125, lang="en")
    message = str(record[0].message)
    assert message.startswith("1 compound(s) and 1 station(s) lie outside the network data")
    assert "at least 1,125 m" in message and message.endswith(": Block A (c1); Hall (s1)")
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in message)
    with pytest.warns(CoverageWarning) as record:
        dataedge.warn_outside_network_data(["Block A (c1)"], [], reach_m=1125)
    message = str(record[0].message)
    assert message.startswith("1 个小区、0 个站点位于路网数据范围之外")
    assert "(1 compound(s) and 0 station(s) lie outside" in message  # the English after it
