"""`coverage-planner site` and the demo's siting step: outputs, and bad cases with exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from coverage.cli import main


def invoke(args: list[str]) -> tuple[int, str]:
    res = CliRunner().invoke(main, args)
    out = res.output + (res.stderr if res.stderr_bytes is not None else "")
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, out


@pytest.fixture(scope="module")
def demo(
    demo_run: tuple[Path, subprocess.CompletedProcess[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The demo (analysis + siting step; conftest.demo_run), copied: tests here add files."""
    root = tmp_path_factory.mktemp("site-demo")
    return Path(shutil.copytree(demo_run[0], root / "demo"))


def test_demo_gains_a_siting_step(demo: Path) -> None:
    folder = demo / "siting"
    for name in ("sites.csv", "assignment.csv", "curve.csv", "sites.gpkg", "summary.json"):
        assert (folder / name).is_file(), name
    sites = pd.read_csv(folder / "sites.csv", encoding="utf-8-sig")
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
    assert len(sites) == 3 and set(sites["source"]) <= {"osm", "gates", "kmeans"}
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "optimal" and summary["gap"] == 0
    assert summary["share_after"] > summary["share_before"]
    assert "示例数据" in summary["note"]
    curve = pd.read_csv(folder / "curve.csv", encoding="utf-8-sig")
    assert curve["new_sites"].tolist() == list(range(7))
    assert curve["households_covered"].iloc[3] == pytest.approx(summary["households_covered_after"])
    # households each site adds sum to what the new sites cover
    assert sites["households_added"].sum() == pytest.approx(summary["objective"])


def _with_candidates(demo: Path, rows: list[tuple[str, float, float]]) -> Path:
    (demo / "cands.csv").write_text(
        "编号,名称,经度,纬度\n" + "".join(f"{i},{i},{x},{y}\n" for i, x, y in rows),
        encoding="utf-8",
    )
    study = demo / "study_cands.toml"
    text = (demo / "study.toml").read_text(encoding="utf-8")
    study.write_text(text + '\n[candidates]\npath = "cands.csv"\n', encoding="utf-8")
    return study


def test_site_with_study_candidates_and_min_stations(demo: Path, tmp_path: Path) -> None:
    study = _with_candidates(
        demo, [("k1", 24.9478, 60.1758), ("k2", 24.9440, 60.1729), ("k3", 24.9412, 60.1672)]
    )
    code, text = invoke(
        [
            "--lang",
            "en",
            "site",
            str(study),
            "--service",
            "meal_point",
            "--model",
            "min-stations",
            "--target",
            "0.6",
            "--minutes",
            "10",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0, text
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["model"] == "min-stations" and summary["share_after"] >= 0.6
    assert summary["candidates"]["by_source"] == {"study": 3}
    assert "households within 10 min" in text


BAD = [
    (["--service", "nope", "--new", "1"], "no service 'nope'"),
    (["--service", "meal_point", "--new", "2"], "no candidate sites"),
    (
        ["--service", "meal_point", "--new", "9", "--generate", "kmeans", "--clusters", "3"],
        "larger than the 3",
    ),
    (
        [
            "--service",
            "meal_point",
            "--model",
            "min-stations",
            "--target",
            "1",
            "--minutes",
            "1",
            "--generate",
            "kmeans",
            "--clusters",
            "3",
        ],
        "cannot be reached",
    ),
    (
        [
            "--service",
            "meal_point",
            "--model",
            "capacitated",
            "--new",
            "2",
            "--capacity",
            "50",
            "--generate",
            "kmeans",
        ],
        "below the demand",
    ),
    (["--service", "meal_point", "--model", "min-stations", "--new", "2"], "takes --target"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD)
def test_bad_cases_exit_2_with_a_clear_message(
    demo: Path, tmp_path: Path, args: list[str], fragment: str
) -> None:
    code, text = invoke(["site", str(demo / "study.toml"), *args, "--out", str(tmp_path)])
    assert code == 2, text
    assert fragment in text
    assert "Traceback" not in text
    assert not (tmp_path / "sites.csv").exists()


def test_unreachable_target_names_the_compounds(demo: Path, tmp_path: Path) -> None:
    code, text = invoke(
        [
            "site",
            str(demo / "study.toml"),
            "--service",
            "meal_point",
            "--model",
            "min-stations",
            "--target",
            "1",
            "--minutes",
            "1",
            "--generate",
            "kmeans",
            "--clusters",
            "3",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 2
    compounds = pd.read_csv(demo / "compounds.csv", encoding="utf-8-sig")
    named = [c for c in compounds["compound_id"].unique() if str(c) in text]
    assert named, text


@pytest.mark.parametrize(
    ("model", "extra"),
    [("min-walk", ["--cap", "20"]), ("capacitated", ["--capacity", "2000"])],
)
def test_other_models_run_from_the_command(
    demo: Path, tmp_path: Path, model: str, extra: list[str]
) -> None:
    code, text = invoke(
        [
            "-q",
            "site",
            str(demo / "study.toml"),
            "--service",
            "meal_point",
            "--model",
            model,
            "--new",
            "2",
            "--minutes",
            "10",
            "--generate",
            "kmeans",
            "--curve",
            "0",
            *extra,
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0, text
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["model"] == model and summary["status"] == "optimal"
    assign = pd.read_csv(tmp_path / "assignment.csv", encoding="utf-8-sig")
    if model == "capacitated":
        # no new station serves more than its capacity
        loads = assign[assign["station_kind"] == "new"].groupby("station_id")["households"].sum()
        assert (loads <= 2000).all() and len(loads) >= 1
    else:
        assert summary["mean_walk_min_after"] == pytest.approx(
            summary["objective"] / summary["households_total"]
        )
