"""Siting a study's service: candidates screened, walk times, models on a real network vs spopt."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from _lattice import grid, wgs
from coverage import osmdata, pipeline, siting_study, snap
from coverage.candidates import screen_candidates, service_candidates
from coverage.config import DEFAULT_PROFILES, study_from_dict
from coverage.siting import MaxCoverage, MinStations, MinWalkTime

OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
ADULT = DEFAULT_PROFILES["adult"]


def points(ids: list[str], xy: list[tuple[float, float]], col: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {col: ids, "name": ids}, geometry=[Point(*wgs(x, y)) for x, y in xy], crs=4326
    )


def test_candidates_far_or_on_islands_are_dropped_with_a_reason() -> None:
    net = grid(4, extra=[(1000.0, 1000.0), (1100.0, 1000.0)])
    cands = points(["ok", "far", "island"], [(100, 0), (150, 1500), (1050, 1000)], "candidate_id")
    cands["services"] = ["", "", ""]
    out = screen_candidates(cands, net)
    assert out["reason"].tolist() == ["", "far_from_network", "island"]
    cands["services"] = ["meal", "", ""]
    assert screen_candidates(cands, net, service="party")["reason"].iloc[0] == "other_service"
    assert service_candidates(cands, "meal").tolist() == [True, True, True]


def test_siting_times_on_lattice_equal_hand_walk_times() -> None:
    # 4 x 4 lattice, 100 m steps, adult 4.5 km/h = 75 m/min
    net = grid(4)
    comp = points(["a", "b"], [(0, 0), (300, 300)], "compound_id")
    cands = points(["c1", "c2"], [(100, 0), (300, 200)], "candidate_id")
    station = points(["s"], [(0, 100)], "station_id")
    station["capacity"] = 250.0
    times = siting_study.siting_times(
        comp, np.array([10.0, 20.0]), cands, station, net, profile=ADULT, limit_min=10
    )
    dense = times.cost.toarray()
    assert dense[0, 0] == pytest.approx(100 / 75)  # a -> c1
    assert dense[1, 1] == pytest.approx(100 / 75)  # b -> c2
    assert dense[0, 1] == pytest.approx(500 / 75)  # a -> c2: 3 east + 2 north
    assert times.existing_min.tolist() == pytest.approx([100 / 75, 500 / 75])
    assert times.station_capacity.tolist() == [250.0]
    m = MaxCoverage.from_walk_times(times, p=1, minutes=2.0).solve()
    assert m.covered_before == 10.0 and m.selected_ids == ["c2"] and m.covered_after == 30.0


@pytest.fixture(scope="module")
def cau(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """A study on the Beijing Haidian extract: compounds derived from OSM (households
    estimated), one existing station, candidates from OSM POIs, gates and k-means."""
    folder = tmp_path_factory.mktemp("cau")
    gpd.GeoDataFrame(
        {"station_id": ["s1", "s2"], "name": ["站1", "站2"]},
        geometry=[Point(116.350, 40.003), Point(116.3445, 40.0005)],
        crs=4326,
    ).to_file(folder / "stations.geojson")
    osm = OSM / "beijing-haidian-cau.osm.bz2"
    study = study_from_dict(
        {
            "name": "cau",
            "network": {"osm_file": str(osm)},
            "cache_dir": str(folder / "cache"),
            "services": {"party": {"stations": "stations.geojson", "minutes": [5, 10]}},
        },
        base_dir=folder,
    )
    net = pipeline.network_for_study(study)
    data = pipeline.load_inputs(study, network=net)
    features = osmdata.read_osm_features(osm)
    return study, net, data, features


def _spopt_value(model: object) -> float:
    import pulp

    return float(pulp.value(model.problem.objective))  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_real_network_objectives_equal_spopt(cau: tuple) -> None:
    import pulp
    from spopt.locate import LSCP, MCLP, PMedian

    _study, net, data, features = cau
    w = data.compounds["households"].to_numpy(dtype=float)
    origins = snap.snap_compounds(data.compounds, net, entrances=data.entrances)
    pool = siting_study.gather_candidates(
        None,
        generate=["osm", "gates", "kmeans"],
        features=features,
        uncovered=data.compounds,
        uncovered_weights=w,
        network=net,
        n_clusters=8,
    )
    usable = screen_candidates(pool, net).query("reason == ''").reset_index(drop=True)
    t = 6.0
    times = siting_study.siting_times(
        origins, w, usable, data.stations["party"], net, profile=ADULT, limit_min=t
    )
    n_c, n_e = times.cost.shape[1], times.station_cost.shape[1]
    big = 1e4
    # spopt sees candidates then existing stations (predefined), dense, "no path" = big
    dense = np.hstack([times.cost.toarray(), times.station_cost.toarray()])
    stored = np.hstack([_stored(times.cost), _stored(times.station_cost)])
    dense[~stored] = big
    predefined = np.r_[np.zeros(n_c, bool), np.ones(n_e, bool)]
    solver = pulp.PULP_CBC_CMD(msg=False)
    p = 3

    ours = MaxCoverage.from_walk_times(times, p=p, minutes=t).solve()
    ref = MCLP.from_cost_matrix(
        dense, w, service_radius=t, p_facilities=p + n_e, predefined_facilities_arr=predefined
    ).solve(solver)
    assert ours.status == "optimal"
    assert ours.covered_after == pytest.approx(_spopt_value(ref), rel=1e-6)

    reach = (dense <= t).any(axis=1)
    ls = MinStations.from_walk_times(times, minutes=t).solve()
    ref_ls = LSCP.from_cost_matrix(
        dense[reach], service_radius=t, predefined_facilities_arr=predefined
    ).solve(solver)
    assert ls.objective + n_e == pytest.approx(_spopt_value(ref_ls), rel=1e-6)

    # p-median with a cap: spopt gets an always-open column at the cap for everyone
    capped = np.minimum(dense, t)
    capped = np.hstack([capped, np.full((len(w), 1), t)])
    med = MinWalkTime.from_walk_times(times, p=p, cap_min=t).solve()
    ref_pm = PMedian.from_cost_matrix(
        capped, w, p_facilities=p + n_e + 1, predefined_facilities_arr=np.r_[predefined, True]
    ).solve(solver)
    assert med.objective == pytest.approx(_spopt_value(ref_pm), rel=1e-6)


def _stored(m: object) -> np.ndarray:
    """Dense mask of the stored entries of a CSR matrix (explicit zeros included)."""
    import scipy.sparse as sp

    c = sp.csr_matrix(m)
    mask = np.zeros(c.shape, dtype=bool)
    mask[np.repeat(np.arange(c.shape[0]), np.diff(c.indptr)), c.indices] = True
    return mask


@pytest.mark.slow
def test_site_service_on_real_network_writes_outputs(cau: tuple, tmp_path: Path) -> None:
    study, net, data, features = cau
    result = siting_study.site_service(
        study,
        net,
        data,
        service="party",
        new=3,
        minutes=5,
        generate=["osm", "gates"],
        features=features,
        curve_k=4,
    )
    s = result.summary
    assert s["status"] == "optimal" and s["gap"] == 0.0
    assert s["share_after"] >= s["share_before"]
    assert len(result.sites) == 3 and list(result.sites["rank"]) == [1, 2, 3]
    # households added by the ranked sites sum to the households newly covered
    assert result.sites["households_added"].sum() == pytest.approx(s["objective"])
    assert s["households_covered_after"] == pytest.approx(
        s["households_covered_before"] + s["objective"]
    )
    assert result.curve["households_covered"].iloc[3] == pytest.approx(
        s["households_covered_after"]
    )
    files = siting_study.write_siting(result, tmp_path)
    assert {f.name for f in files} >= {
        "sites.csv",
        "assignment.csv",
        "curve.csv",
        "sites.gpkg",
        "summary.json",
    }
    sites = pd.read_csv(tmp_path / "sites.csv")
    assert list(sites.columns) == [
        "site_id",
        "rank",
        "source",
        "name",
        "lon",
        "lat",
        "households_added",
        "compounds_added",
    ]
    assign = pd.read_csv(tmp_path / "assignment.csv")
    assert assign["households"][assign["covered"]].sum() == pytest.approx(
        s["households_covered_after"]
    )
    assert not list(tmp_path.glob(".*tmp*"))
