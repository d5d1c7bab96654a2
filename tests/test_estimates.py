"""Estimated households: the share said everywhere, and the plausibility warning (issue 7)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import coverage as cp
from _lattice import grid, make_network
from coverage import estimates, outputs
from coverage.cli import main
from coverage.config import load_study
from coverage.errors import CoverageWarning
from test_inputs import write_csv

OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
GUIXI = OSM / "jiangxi-guixi.osm.bz2"
WUDAOKOU = OSM / "beijing-haidian-wudaokou.osm.bz2"
needs_data = pytest.mark.skipif(not GUIXI.is_file(), reason="shared OSM extracts not found")


def test_estimated_share_by_a_loop() -> None:
    table = pd.DataFrame(
        {
            "households": [120.0, 80.0, 0.0, 300.0],
            "households_source": ["estimated", "given", "estimated", None],
        }
    )
    est = sum(
        h
        for h, s in zip(table["households"], table["households_source"], strict=True)
        if s == "estimated"
    )
    assert estimates.estimated_households(table) == est == 120.0
    assert estimates.estimated_share(table) == pytest.approx(120.0 / 500.0)
    assert estimates.estimated_share(table.drop(columns="households_source")) == 0.0
    # no households at all: by count of compounds
    assert estimates.estimated_share(table.assign(households=0.0)) == pytest.approx(0.5)


def test_compounds_line_says_estimated_with_its_share() -> None:
    table = pd.DataFrame({"households": [5000.0, 207.0], "households_source": ["estimated"] * 2})
    assert outputs.compounds_line(table) == "小区: 2 个，5,207 户（估算 (estimated) 户数占 100.0%）"
    given = table.assign(households_source="given")
    assert outputs.compounds_line(given) == "小区: 2 个，5,207 户"


def test_built_up_area_of_a_street_grid_and_of_one_road() -> None:
    # a 50 m street grid over 400 m x 400 m (cells anchored at multiples of 200 m in the UTM
    # zone, as the lattice is): each of the four inner 200 m cells holds 4 + 4 streets of
    # 200 m = 1,600 m; the cells just beyond x = 400 or y = 400 hold one 200 m street
    net = grid(k=9, step=50.0)
    assert estimates.built_up_area_m2(net) == pytest.approx(4 * 200.0**2)
    # one straight 2 km road through fields: about 200 m per cell, never built up
    road = make_network([(0.0, 30.0), (2000.0, 30.0)], [(0, 1)])
    assert estimates.built_up_area_m2(road) == 0.0


def test_plausibility_by_hand() -> None:
    few = pd.DataFrame({"households": [40.0]})
    with pytest.warns(CoverageWarning, match="街道办") as record:
        estimates.check_derived_households(few, mapped_buildings=150)
    assert "150" in str(record[0].message) and "street office" in str(record[0].message)
    # 300 buildings, but 250 households for 1 km² of built-up land (3,000 implied)
    with pytest.warns(CoverageWarning, match="十分之一"):
        estimates.check_derived_households(
            pd.DataFrame({"households": [250.0]}), mapped_buildings=300, built_up_m2=1e6
        )
    # 300 households: a tenth of 3,000 is not "under a tenth"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (
            estimates.check_derived_households(
                pd.DataFrame({"households": [300.0]}), mapped_buildings=300, built_up_m2=1e6
            )
            is None
        )


def _osm_study(folder: Path, osm: Path, lon: float, lat: float) -> Path:
    write_csv(folder / "s.csv", [["id", "name", "lon", "lat"], ["S1", "a", lon, lat]])
    path = folder / "study.toml"
    path.write_text(
        f'name = "t"\n[network]\nosm_file = "{osm.as_posix()}"\n'
        '[services.party]\nstations = "s.csv"\n',
        encoding="utf-8",
    )
    return path


@needs_data
def test_guixi_derived_households_are_flagged(tmp_path: Path) -> None:
    # issue 7: a Jiangxi county town, 70 compounds and 5,207 households from 165 buildings
    study = load_study(_osm_study(tmp_path, GUIXI, 117.22, 28.30))
    net = cp.network_for_study(study, cache_dir=tmp_path / "cache")
    with pytest.warns(CoverageWarning, match="县城") as record:
        data = cp.load_inputs(study, network=net)
    assert len(data.compounds) == 70 and data.compounds["households"].sum() == 5207
    assert "165" in str(record[0].message)
    line = outputs.compounds_line(data.compounds)
    assert line == "小区: 70 个，5,207 户（估算 (estimated) 户数占 100.0%）"


@needs_data
def test_wudaokou_is_plausible(tmp_path: Path) -> None:
    study = load_study(_osm_study(tmp_path, WUDAOKOU, 116.32, 40.0))
    net = cp.network_for_study(study, cache_dir=tmp_path / "cache")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CoverageWarning)
        data = cp.load_inputs(study, network=net)
    assert data.compounds["households"].sum() > 0.1 * (
        estimates.built_up_area_m2(net) / 1e6 * estimates.HOUSEHOLDS_PER_BUILT_UP_KM2
    )


def test_outputs_say_estimated(analysis_and_files: tuple[cp.Analysis, Path]) -> None:
    # the CAU study derives its compounds from OSM: every household is estimated
    analysis, out = analysis_and_files
    payload = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert "估算 (estimated)" in payload["estimates"] and "100.0%" in payload["estimates"]
    for key, svc in payload["services"].items():
        assert svc["share_estimated"] == 1.0, key
        total = svc["thresholds"][next(iter(svc["thresholds"]))]["households_total"]
        assert svc["households_estimated"] == total
    summary = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    assert (summary["households_estimated"] == summary["households_total"]).all()
    assert (summary["share_estimated"].astype(str) == "100.0%").all()  # CSV: percentages
    lines = outputs.coverage_lines(analysis)
    assert all("户数含估算 (estimated) 100.0%" in ln for ln in lines if not ln.startswith(" "))
    gaps = [ln for ln in lines if ln.startswith("  ")]
    assert gaps and all("估算 (estimated)" in ln for ln in gaps)
    en = outputs.coverage_lines(analysis, lang="en")
    assert "100.0% of households estimated" in en[0]


def test_validate_says_estimated(tmp_path: Path) -> None:
    write_csv(tmp_path / "s.csv", [["id", "name", "lon", "lat"], ["S1", "a", 117.5, 30.66]])
    write_csv(
        tmp_path / "c.csv",
        [
            ["id", "name", "lon", "lat", "households", "households_source"],
            ["C1", "甲", 117.501, 30.661, 300, "estimated"],
            ["C2", "乙", 117.502, 30.662, 100, "given"],
        ],
    )
    study = tmp_path / "study.toml"
    study.write_text(
        'name = "t"\ncompounds = "c.csv"\n[network]\nbbox = [117.4, 30.6, 117.6, 30.7]\n'
        '[services.party]\nstations = "s.csv"\n',
        encoding="utf-8",
    )
    res = CliRunner().invoke(main, ["validate", str(study)])
    assert res.exit_code == 0, res.output
    assert "小区: 2 个，400 户（估算 (estimated) 户数占 75.0%）" in res.output


def test_plausibility_warning_is_english_only_for_en() -> None:
    few = pd.DataFrame({"households": [250.0]})
    with pytest.warns(CoverageWarning) as record:
        message = estimates.check_derived_households(
            few, mapped_buildings=150, built_up_m2=1e6, lang="en"
        )
    assert message == str(record[0].message)
    assert message.startswith("households estimated from OSM buildings look far too low: only")
    assert "under a tenth" in message and "street office" in message
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in message)
