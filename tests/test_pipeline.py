"""Tests for coverage.pipeline: a study end to end, checked against direct calls."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from coverage import pipeline, travel
from coverage.config import load_study
from coverage.errors import CoverageWarning, FarFromNetworkWarning, InputError

# the CAU extract cuts the ways of 学士居 and two building clusters: their reason is
# outside_network_data, and every analysis of it warns once (tests/test_dataedge.py checks it)
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*outside_network_data:coverage.errors.CoverageWarning"
)

OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"


CAU = (OSM / "beijing-haidian-cau.osm.bz2").as_posix()


def _study(tmp_path: Path, stations: list[list[object]]) -> Path:
    lines = ["id,name,lon,lat"] + [",".join(map(str, r)) for r in stations]
    (tmp_path / "party.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "meal.csv").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    study = tmp_path / "study.toml"
    study.write_text(
        f'name = "CAU"\n[network]\nosm_file = "{CAU}"\n'
        '[services.party]\nstations = "party.csv"\n'
        '[services.meal]\nstations = "meal.csv"\nprofile = "elderly"\nminutes = [5, 10]\n',
        encoding="utf-8",
    )
    return study


STATIONS = [["P1", "a", 116.3525, 40.0035], ["P2", "b", 116.3468, 40.0062]]


def test_study_end_to_end_matches_direct_calls(tmp_path: Path) -> None:
    study = load_study(_study(tmp_path, STATIONS))
    net = pipeline.network_for_study(study, cache_dir=tmp_path / "cache")
    data = pipeline.load_inputs(study, network=net)
    assert (data.compounds["households_source"] == "estimated").all()  # derived from OSM
    analysis = pipeline.analyze(study, net, data)
    for key in ("party", "meal"):
        svc = study.services[key]
        direct = travel.nearest_station(
            data.compounds,
            data.stations[key],
            net,
            profile=study.profiles[svc.profile],
            entrances=data.entrances,
        ).set_index("compound_id")
        got = analysis.services[key].assessed.set_index("compound_id")
        np.testing.assert_array_equal(got["walk_min"], direct.loc[got.index, "walk_min"])
        # the summary is the plain sum over the per-compound table
        for t in svc.minutes:
            col = f"covered_{t:g}min"
            row = analysis.summary[key]["thresholds"][f"{t:g}"]
            assert row["households_covered"] == pytest.approx(got.loc[got[col], "households"].sum())
            assert row["compounds_covered"] == int(got[col].sum())
            assert (got[col] == (got["walk_min"] <= t)).all()
    # the elderly walk slower: never a shorter time to the same station
    party = analysis.services["party"].assessed.set_index("compound_id")
    meal = analysis.services["meal"].assessed.set_index("compound_id")
    same = (party.nearest_station_id == "P1") & (meal.nearest_station_id == "P1")
    assert (meal.walk_min[same] >= party.walk_min[same]).all()
    files = pipeline.write_analysis(analysis, tmp_path / "out")
    assert [f.name for f in files] == [
        "compounds.csv",
        "stations.csv",
        "gaps.csv",
        "summary.csv",
        "summary.json",
        "coverage.gpkg",
    ]
    table = pd.read_csv(tmp_path / "out" / "compounds.csv", encoding="utf-8-sig")
    assert len(table) == 2 * len(data.compounds)
    assert json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))["study"] == "CAU"


def test_outputs_say_how_each_compound_was_entered(tmp_path: Path) -> None:
    import geopandas as gpd

    from coverage import snap

    path = _study(tmp_path, STATIONS)
    study = load_study(path)
    net = pipeline.network_for_study(study, cache_dir=tmp_path / "cache")
    data = pipeline.load_inputs(study, network=net)
    analysis = pipeline.analyze(study, net, data)
    pipeline.write_analysis(analysis, tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "compounds.csv", encoding="utf-8-sig")
    cols = list(table.columns)
    at = cols.index("minutes_short")
    assert cols[at + 1 : at + 5] == ["access", "access_rule", "access_point", "access_points"]
    assert set(table["access"].dropna()) <= {"gate", "entry", "point"}
    assert set(table["access_rule"]) <= {"gates", "entries", "open", "point", "none"}
    gated = table[table["access"] == "gate"]
    assert len(gated) and gated["access_point"].str.match(r"^n\d+").all()
    others = table[table["access"].isin(["entry", "point"])]
    lonlat = others["access_point"].str.split(",", expand=True).astype(float)
    assert lonlat[0].between(116.34, 116.36).all() and lonlat[1].between(39.99, 40.01).all()
    # the number considered is the number of snapped access points
    snapped = snap.snap_compounds(data.compounds, net, entrances=data.entrances)
    party = analysis.services["party"].assessed
    assert (
        party["access_points"].to_numpy() == np.bincount(snapped.owner, minlength=len(party))
    ).all()
    # the gate named is the one the time leaves from: that gate alone as a point gives it
    rows = party[party["access"] == "gate"]
    osm_id = rows["access_point"].str.split(" ").str[0]
    ent = data.entrances.set_index("osm_id").loc[osm_id.to_numpy()]
    alone = gpd.GeoDataFrame(
        {"compound_id": rows["compound_id"].to_numpy()}, geometry=ent.geometry.to_numpy(), crs=4326
    )
    direct = travel.nearest_station(
        alone, data.stations["party"], net, profile=study.profiles["adult"]
    )
    np.testing.assert_allclose(direct["walk_min"], rows["walk_min"], rtol=0, atol=1e-9)
    layer = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="compounds")
    assert {"access", "access_rule", "access_point", "access_points"} <= set(layer.columns)
    # the study key changes the rule
    text = path.read_text(encoding="utf-8").replace(
        'name = "CAU"', 'name = "CAU"\naccess = "entries"'
    )
    path.write_text(text, encoding="utf-8")
    entries = load_study(path)
    assert entries.access == "entries"
    again = pipeline.analyze(entries, net, data).services["party"].assessed
    assert set(again["access_rule"]) <= {"entries", "none"}
    assert (again["reason"] == "no_access").sum() == (again["access_rule"] == "none").sum()


def test_station_far_from_the_network_is_flagged_not_dropped(tmp_path: Path) -> None:
    far = ["P9", "远郊服务站", 116.352, 40.0224]  # 1.5 km north of the extract: no walkable way
    study = load_study(_study(tmp_path, [*STATIONS, far]))
    # both services use the one station file: the far station is one warning, not two
    (tmp_path / "meal.csv").write_bytes((tmp_path / "party.csv").read_bytes())
    net = pipeline.network_for_study(study, cache_dir=tmp_path / "cache")
    data = pipeline.load_inputs(study, network=net)
    with pytest.warns(CoverageWarning) as record:
        analysis = pipeline.analyze(study, net, data)
    # P9 is beyond the extract's bounds: named once, in the edge-of-the-data warning, not
    # again as merely far from a walkable way
    named = [str(w.message) for w in record if "P9" in str(w.message)]
    assert len(named) == 1 and "outside_network_data" in named[0], named
    assert "远郊服务站 (P9)" in named[0]
    assert not [w for w in record if issubclass(w.category, FarFromNetworkWarning)]
    # a station far from any way inside the data: one warning for both services
    rows = data.stations["party"].query("station_id == 'P9'")
    with pytest.warns(FarFromNetworkWarning) as record:
        pipeline.warn_far_stations(study, {"party": rows, "meal": rows})
    assert len(record) == 1
    message = str(record[0].message)
    assert "party/meal: P9 远郊服务站" in message  # by id and name, with the services
    assert message.startswith("1 个站点距步行道路超过 300 米")  # Chinese first
    assert "snap_points" not in message and "(stations, network)" not in message
    assert "stations.csv" in message and "max_snap_m" in message  # where to look, what to do
    loads = analysis.services["party"].loads.set_index("station_id")
    # beyond the extract's bounds: the map data, not the street, is missing (issue 7)
    assert loads.loc["P9", "reason"] == "outside_network_data"
    assert loads.loc["P9", "compounds_served"] == 0
    assert (loads.loc[["P1", "P2"], "reason"] == "").all()


def test_problems_of_every_layer_are_reported_together(tmp_path: Path) -> None:
    path = _study(tmp_path, STATIONS)
    (tmp_path / "party.csv").write_text("id,name,lon,lat\nP1,a,abc,40.0\n", encoding="utf-8")
    (tmp_path / "meal.csv").write_text("id,name,lon,lat\nM1,a,116.35,\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        pipeline.load_inputs(load_study(path))
    files = {Path(p.file).name for p in info.value.problems}
    assert files == {"party.csv", "meal.csv"}
    assert "2 problem(s)" in str(info.value)


def test_coverage_broken_down_by_street_and_community(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 60
    lon = rng.uniform(116.345, 116.358, n)
    lat = rng.uniform(39.999, 40.008, n)
    street = np.where(lon < 116.351, "东升", "学院路")
    community = [f"{s}-{i % 3}" for i, s in enumerate(street)]
    rows = ["编号,名称,户数,经度,纬度,街道,社区"] + [
        f"C{i},小区{i},{100 + i},{lon[i]:.6f},{lat[i]:.6f},{street[i]},{community[i]}"
        for i in range(n)
    ]
    (tmp_path / "compounds.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    path = _study(tmp_path, STATIONS)
    text = path.read_text(encoding="utf-8").replace(
        "[network]", 'compounds = "compounds.csv"\n[network]'
    )
    path.write_text(text, encoding="utf-8")
    study = load_study(path)
    net = pipeline.network_for_study(study, cache_dir=tmp_path / "cache")
    data = pipeline.load_inputs(study, network=net)
    assert pipeline.group_columns(study, data.compounds) == ["街道", "社区"]
    analysis = pipeline.analyze(study, net, data)
    summary = analysis.services["party"].summary
    assessed = analysis.services["party"].assessed
    # brute force: every street and every (street, community) pair, every threshold
    for keys, cols in ((["街道"], ["街道"]), (["街道", "社区"], ["街道", "社区"])):
        rows_ = summary[(summary.scope == "group") & summary[cols].notna().all(axis=1)]
        if cols == ["街道"]:
            rows_ = rows_[rows_["社区"].isna()]
        expected = 0
        for values, grp in assessed.groupby(keys):
            for t in (5.0, 10.0, 15.0):
                covered = grp[f"covered_{t:g}min"]
                match = rows_[(rows_[cols] == list(values)).all(axis=1) & (rows_.minutes == t)]
                assert len(match) == 1, (values, t)
                assert match.households_covered.iloc[0] == grp.households[covered].sum()
                assert match.compounds_total.iloc[0] == len(grp)
                expected += 1
        assert len(rows_) == expected
    pipeline.write_analysis(analysis, tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "summary.csv", encoding="utf-8-sig")
    assert {"scope", "街道", "社区", "minutes", "share_covered"} <= set(table.columns)
    # an explicit group_by naming a column the layer lacks is a clear error
    bad = load_study(path)
    object.__setattr__(bad, "group_by", ("网格",))
    with pytest.raises(InputError, match="网格"):
        pipeline.group_columns(bad, data.compounds)


def test_far_station_warning_is_english_only_for_en(tmp_path: Path) -> None:
    import dataclasses

    import geopandas as gpd
    from shapely.geometry import Point

    study = dataclasses.replace(load_study(_study(tmp_path, STATIONS)), language="en")
    rows = gpd.GeoDataFrame(
        {"station_id": ["P9"], "name": ["Far hall"]}, geometry=[Point(116.352, 40.0224)], crs=4326
    )
    with pytest.warns(FarFromNetworkWarning) as record:
        pipeline.warn_far_stations(study, {"party": rows})
    message = str(record[0].message)
    assert message.startswith("1 station(s) farther than 300 m from any walkable way were left")
    assert "P9 Far hall" in message and "raise max_snap_m" in message
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in message), message


@pytest.fixture(scope="module")
def cau(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Any]:
    """The two-service CAU study, its network and inputs."""
    folder = tmp_path_factory.mktemp("overlap")
    study = load_study(_study(folder, STATIONS))
    net = pipeline.network_for_study(study, cache_dir=folder / "cache")
    return study, net, pipeline.load_inputs(study, network=net)


def test_analyze_gives_nearest_station_s_minutes_and_pickles(cau: tuple[Any, Any, Any]) -> None:
    study, net, data = cau
    got = pickle.loads(pickle.dumps(pipeline.analyze(study, net, data)))
    assert list(got.services) == ["party", "meal"]
    # each station layer snapped once, before the compounds: nothing changes against
    # nearest_station on its own (the elderly profile's graph)
    direct = travel.nearest_station(
        data.compounds,
        data.stations["meal"],
        net,
        profile=study.profiles["elderly"],
        entrances=data.entrances,
    )
    np.testing.assert_array_equal(
        got.services["meal"].assessed["walk_min"].to_numpy(), direct["walk_min"].to_numpy()
    )
