"""Tests for the coverage-planner command (run for real, in temporary folders)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner

from coverage.cli import main
from test_inputs import CASES as BAD_CASES
from test_inputs import write_csv

OSM_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"


def run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-c", "from coverage.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_dir(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    """`coverage-planner demo`, run once for the session (conftest.demo_run)."""
    out, res = demo_run
    assert "Traceback" not in res.stderr
    assert "示例数据" in res.stdout
    # the terminal names the worst gaps: the first row of gaps.csv of the first service
    gaps = pd.read_csv(out / "gaps.csv", encoding="utf-8-sig")
    first = gaps[gaps.service == gaps.service.iloc[0]].iloc[0]
    assert f"缺口 1: {first['name']}（{first.households:,.0f} 户" in res.stdout
    return out


def test_demo_writes_study_and_analysis(demo_dir: Path) -> None:
    for name in (
        "study.toml",
        "batch.toml",
        "areas.geojson",
        "compounds.geojson",
        "compounds.csv",
        "stations.csv",
        "summary.json",
        "coverage.gpkg",
    ):
        assert (demo_dir / name).is_file(), name
    summary = json.loads((demo_dir / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["services"]) == {"party_station", "rest_point", "meal_point", "grid_station"}
    # every output says plainly that the sample is illustrative
    assert "示例数据" in summary["note"] and "Illustrative" in summary["note"]
    assert "示例数据" in (demo_dir / "study.toml").read_text(encoding="utf-8")
    for name in ("compounds.csv", "stations.csv", "gaps.csv"):
        table = pd.read_csv(demo_dir / name, encoding="utf-8-sig")
        assert (table["illustrative"] == "示例数据 (illustrative)").all(), name
    compounds = pd.read_csv(demo_dir / "compounds.csv", encoding="utf-8-sig")
    assert (compounds.households_source == "estimated").all()
    for key, svc in summary["services"].items():
        rows = compounds[compounds.service == key]
        for t, v in svc["thresholds"].items():
            covered = rows[f"covered_{t}min"] == "是"  # flags read 是/否 in Excel
            # the JSON summary agrees with the per-compound table
            assert v["compounds_covered"] == int(covered.sum())
            assert v["households_covered"] == pytest.approx(float(rows.households[covered].sum()))
    # walk_min is empty (not a sentinel) exactly when unreachable / far from the network
    assert (
        compounds.loc[compounds.walk_min.isna(), "reason"]
        .isin(["unreachable", "far_from_network"])
        .all()
    )
    layers = gpd.list_layers(demo_dir / "coverage.gpkg")
    assert {"compounds", "stations"} <= set(layers.name)
    assert gpd.read_file(demo_dir / "coverage.gpkg", layer="compounds").crs.to_epsg() == 4326


def test_analyze_reruns_on_demo_study_from_cache(demo_dir: Path, tmp_path: Path) -> None:
    # the demo folder is a study a user can copy and edit
    copy = tmp_path / "mine"
    shutil.copytree(demo_dir, copy)
    cache = demo_dir.parent / "cache"
    res = run(
        [
            "-v",
            "analyze",
            str(copy / "study.toml"),
            "--out",
            str(tmp_path / "out"),
            "--cache-dir",
            str(cache),
        ]
    )
    assert res.returncode == 0, res.stderr
    assert "from cache" in res.stderr
    assert (tmp_path / "out" / "summary.json").is_file()


def test_network_command_writes_tables_and_uses_cache(tmp_path: Path) -> None:
    src = OSM_DIR / "beijing-haidian-cau.osm.bz2"
    stations = tmp_path / "s.csv"
    stations.write_text("id,name,经度,纬度\n1,a,116.35,40.0\n", encoding="utf-8")
    study = tmp_path / "study.toml"
    study.write_text(
        f'name = "t"\n[network]\nosm_file = "{src.as_posix()}"\n'
        '[services.party]\nstations = "s.csv"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    args = [
        "network",
        str(study),
        "--out",
        str(tmp_path / "net"),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "[新建]" in first.output
    nodes = pd.read_parquet(tmp_path / "net" / "nodes.parquet")
    edges = pd.read_parquet(tmp_path / "net" / "edges.parquet")
    assert list(nodes.columns[:4]) == ["node_id", "lon", "lat", "component"]
    assert {"u", "v", "length_m", "highway", "geometry"} <= set(edges.columns)
    assert f"{len(nodes):,} 节点" in first.output
    assert f"{len(edges):,} 边" in first.output
    second = runner.invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "[缓存]" in second.output
    english = runner.invoke(main, ["--lang", "en", *args])
    assert "[cache]" in english.output and "nodes" in english.output


def test_bad_study_exits_2_without_traceback(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    study.write_text(
        'name = "t"\n[network]\nplace = "池州"\n[services.party]\nstations = "s.csv"\n'
        'minutes = [5, "ten"]\n',
        encoding="utf-8",
    )
    res = run(["validate", str(study)])
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "services.party.minutes[1]" in res.stderr
    assert "services.party.stations.path" in res.stderr
    res = run(["validate", str(tmp_path / "missing.toml")])
    assert res.returncode == 2
    assert "Traceback" not in res.stderr


def _toml_layer(path: Path, options: dict) -> str:
    keys = {k: v for k, v in options.items() if k in ("layer", "id_column", "coords")}
    inner = ", ".join([f'path = "{path.as_posix()}"'] + [f'{k} = "{v}"' for k, v in keys.items()])
    return "{ " + inner + " }"


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.id for c in BAD_CASES])
def test_validate_bad_input_exits_2_naming_file_row_column(case, tmp_path: Path) -> None:
    """Every case of the inputs table, through `coverage-planner validate`."""
    path = case.write(tmp_path)
    good = write_csv(
        tmp_path / "good_stations.csv", [["id", "name", "经度", "纬度"], ["S1", "a", 117.5, 30.66]]
    )
    area = case.options.get("study_area")
    network = ("bbox = [" + ", ".join(map(str, area)) + "]") if area else 'place = "池州市"'
    layer = _toml_layer(path, case.options)
    lines = ['name = "t"', "[network]", network]
    if case.load == "compounds":
        lines += [f"compounds = {layer}"]
    if case.load == "candidates":
        lines += [f"candidates = {layer}"]
    stations = layer if case.load == "stations" else _toml_layer(good, {})
    lines += ["[services.party_station]", f"stations = {stations}"]
    # keys before tables: move the inline layer keys above [network]
    head = [ln for ln in lines if ln.startswith(("compounds =", "candidates ="))]
    body = [ln for ln in lines if ln not in head]
    study = tmp_path / "study.toml"
    study.write_text("\n".join(body[:1] + head + body[1:]) + "\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["validate", str(study)])
    assert res.exit_code == 2, (res.output, res.exception)
    assert isinstance(res.exception, SystemExit)  # a message, not a traceback
    assert path.name in res.stderr
    assert case.phrase in res.stderr
    for row, column in case.problems:
        line = next(
            (
                ln
                for ln in res.stderr.splitlines()
                if (
                    row is None
                    or f"row {row}," in ln
                    or f"row {row} (" in ln
                    or f"feature {row}," in ln
                    or f"feature {row} (" in ln
                )
                and (column is None or f"column {column!r}" in ln)
            ),
            None,
        )
        assert line is not None, (row, column, res.stderr)


def test_validate_online_study_without_compounds_needs_no_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("validate must not reach the network")

    monkeypatch.setattr(socket, "socket", no_network)
    write_csv(tmp_path / "s.csv", [["id", "name", "经度", "纬度"], ["S1", "a", 117.5, 30.66]])
    study = tmp_path / "study.toml"
    study.write_text(
        'name = "贵池"\n[network]\nplace = "贵池区, 池州市, 安徽省"\n'
        '[services.party]\nstations = "s.csv"\n',
        encoding="utf-8",
    )
    res = CliRunner().invoke(main, ["validate", str(study)])
    assert res.exit_code == 0, res.output
    assert "从 OSM 下载推导" in res.output
    assert "party: 1 个站点" in res.output


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("garbage", "cannot read OSM file"),
        ('<?xml version="1.0"?><osm version="0.6"></osm>', "no walkable ways"),
    ],
)
def test_unusable_osm_file_exits_2(tmp_path: Path, content: str, fragment: str) -> None:
    (tmp_path / "area.osm").write_text(content, encoding="utf-8")
    write_csv(tmp_path / "s.csv", [["id", "name", "经度", "纬度"], ["S1", "a", 117.5, 30.66]])
    study = tmp_path / "study.toml"
    study.write_text(
        'name = "t"\n[network]\nosm_file = "area.osm"\n[services.party]\nstations = "s.csv"\n',
        encoding="utf-8",
    )
    before = (tmp_path / "area.osm").read_bytes()
    res = CliRunner().invoke(
        main,
        [
            "analyze",
            str(study),
            "--out",
            str(tmp_path / "out"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
    )
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)
    assert fragment in res.stderr and "area.osm" in res.stderr
    assert (tmp_path / "area.osm").read_bytes() == before  # inputs are never modified
    assert not (tmp_path / "out" / "summary.json").exists()


def test_station_far_from_network_is_warned_once_and_flagged(tmp_path: Path) -> None:
    src = OSM_DIR / "beijing-haidian-cau.osm.bz2"
    write_csv(
        tmp_path / "s.csv",
        [
            ["id", "name", "经度", "纬度"],
            ["P1", "a", 116.3525, 40.0035],
            ["P9", "far", 116.352, 40.0224],
        ],
    )
    study = tmp_path / "study.toml"
    study.write_text(
        f'name = "t"\n[network]\nosm_file = "{src.as_posix()}"\n'
        '[services.party]\nstations = "s.csv"\n',
        encoding="utf-8",
    )
    res = run(
        [
            "analyze",
            str(study),
            "--out",
            str(tmp_path / "out"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("警告 (warning):")]
    # P9 lies 1.5 km beyond the extract's bounds (issue 7): the edge of the map data, said once,
    # naming the station (not a second time as merely far from the network)
    far = [ln for ln in lines if "P9" in ln]
    assert len(far) == 1 and "outside_network_data" in far[0] and "far (P9)" in far[0]
    edge = [ln for ln in lines if "outside_network_data" in ln]
    assert len(edge) == 1 and "1 个站点" in edge[0]
    loads = pd.read_csv(tmp_path / "out" / "stations.csv", encoding="utf-8-sig")
    assert loads.set_index("station_id").loc["P9", "reason"] == "outside_network_data"


# in-process, pytest would turn the edge-of-the-data warning (CAU cuts some ways) into an error
@pytest.mark.filterwarnings("ignore:.*outside_network_data:coverage.errors.CoverageWarning")
def test_study_language_en_gives_english_without_lang(tmp_path: Path) -> None:
    from _studies import cau_study

    study = cau_study(tmp_path, language="en")
    args = ["analyze", str(study), "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path)]
    runner = CliRunner()
    english = runner.invoke(main, args)
    assert english.exit_code == 0, english.output
    out = english.stdout
    assert "Network: " in out and "Compounds: " in out and "households covered" in out
    assert "Party station (2 stations): households covered 5 min" in out
    assert "gap 1: " in out and "Written: " in english.output
    assert "loading the walk network" in english.stderr
    # warnings are bilingual (Chinese first); every other line is English
    shown = [ln for ln in english.output.splitlines() if not ln.startswith("warning")]
    for word in ("户", "分钟", "缺口", "路网", "小区:", "已写出", "完成"):
        assert word not in "\n".join(shown), word  # compound names from OSM may be Chinese
    # --lang overrides the study's language; the numbers in the files do not depend on it
    # (labels and 是/否 flags follow the language since the Excel-friendly CSVs)
    keep = ["compound_id", "walk_min", "reason"]
    first = pd.read_csv(tmp_path / "out" / "compounds.csv", encoding="utf-8-sig")[keep]
    chinese = runner.invoke(main, ["--lang", "zh", *args])
    assert chinese.exit_code == 0, chinese.output
    assert "党群服务站（2 个站点）: 户数覆盖率" in chinese.stdout and "缺口 1: " in chinese.stdout
    again = pd.read_csv(tmp_path / "out" / "compounds.csv", encoding="utf-8-sig")[keep]
    pd.testing.assert_frame_equal(again, first)
    checked = runner.invoke(main, ["validate", str(study)])
    assert checked.exit_code == 0, checked.output
    assert "Study: CAU" in checked.stdout and "Party station: 2 stations" in checked.stdout
    assert "All inputs are valid." in checked.stdout


def test_demo_writes_a_self_contained_map(demo_dir: Path) -> None:
    html = (demo_dir / "map.html").read_text(encoding="utf-8")
    assert "示例数据" in html and "cp-nobase" in html  # the walk network as basemap
    assert "<script src=" not in html and "tile.openstreetmap.org" not in html


def test_map_command_writes_the_chosen_service_in_english(demo_dir: Path, tmp_path: Path) -> None:
    cache = demo_dir.parent / "cache"
    out = tmp_path / "meal.html"
    args = ["--lang", "en", "map", str(demo_dir / "study.toml"), "--out", str(out)]
    res = run([*args, "--service", "meal_point", "--basemap", "gaode", "--cache-dir", str(cache)])
    assert res.returncode == 0, res.stderr
    html = out.read_text(encoding="utf-8")
    assert "Elderly meal point coverage" in html and "GCJ-02" in html and "autonavi" in html
    # the refusals in this process (quicker than a subprocess each)
    bad = CliRunner().invoke(main, [*args, "--service", "nope", "--cache-dir", str(cache)])
    assert bad.exit_code == 2 and "Traceback" not in bad.stderr and "service" in bad.stderr
    if "TIANDITU_KEY" not in os.environ:
        keyless = CliRunner().invoke(
            main, [*args, "--basemap", "tianditu", "--cache-dir", str(cache)]
        )
        assert keyless.exit_code == 2 and "TIANDITU_KEY" in keyless.stderr


def test_circles_households_equal_the_summary_exactly(demo_dir: Path, tmp_path: Path) -> None:
    summary = json.loads((demo_dir / "summary.json").read_text(encoding="utf-8"))
    # analyze wrote the dissolved circles of every service into coverage.gpkg
    circles = gpd.read_file(demo_dir / "coverage.gpkg", layer="circles")
    assert circles.crs.to_epsg() == 4326
    assert circles.geometry.is_valid.all()
    for key, svc in summary["services"].items():
        rows = circles[circles.service == key].set_index("minutes")
        for t, v in svc["thresholds"].items():
            assert rows.loc[float(t), "households"] == v["households_covered"]
            assert rows.loc[float(t), "compounds"] == v["compounds_covered"]
    # the isochrones command: every mode as a layer, GeoJSON too, same households
    out = tmp_path / "iso"
    cache = demo_dir.parent / "cache"
    res = run(
        [
            "isochrones",
            str(demo_dir / "study.toml"),
            "--out",
            str(out),
            "--service",
            "meal_point",
            "--geojson",
            "--cache-dir",
            str(cache),
        ]
    )
    assert res.returncode == 0, res.stderr
    assert set(gpd.list_layers(out / "isochrones.gpkg").name) == {"overlap", "dissolve", "split"}
    dissolve = gpd.read_file(out / "isochrones_dissolve.geojson").set_index("minutes")
    for t, v in summary["services"]["meal_point"]["thresholds"].items():
        assert dissolve.loc[float(t), "households"] == v["households_covered"]
    split = gpd.read_file(out / "isochrones.gpkg", layer="split")
    assert split.groupby("minutes").households.sum().to_dict() == {
        float(t): v["households_covered"]
        for t, v in summary["services"]["meal_point"]["thresholds"].items()
    }
    assert "15 分钟圈" in res.stdout
    # bad thresholds: exit 2 naming the key, no traceback
    bad = run(["isochrones", str(demo_dir / "study.toml"), "--out", str(out), "--minutes", "10,5"])
    assert bad.returncode == 2
    assert "minutes" in bad.stderr and "Traceback" not in bad.stderr
