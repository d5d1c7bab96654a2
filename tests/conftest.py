"""Shared fixtures and pytest hooks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import coverage as cp
from _studies import cau_study


@pytest.fixture(scope="session")
def analysis_and_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[cp.Analysis, Path]:
    """The CAU study analysed through the top-level API, and its output folder."""
    folder = tmp_path_factory.mktemp("cau")
    study = cp.load_study(cau_study(folder))
    net = cp.network_for_study(study, cache_dir=folder / "cache")
    data = cp.load_inputs(study, network=net)
    # 学士居 and two building clusters lie beyond the extract's bounds or at its edge
    with pytest.warns(cp.CoverageWarning, match="outside_network_data"):
        analysis = cp.analyze(study, net, data)
    cp.write_analysis(analysis, folder / "out")
    return analysis, folder / "out"


@pytest.fixture(scope="session")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`coverage-planner demo` run once for the session, as a user runs it (a subprocess).

    Returns the demo folder (its network cache is ``../cache``) and the finished process.
    Tests read the folder; a test that adds files copies it first.
    """
    root = tmp_path_factory.mktemp("demo")
    out = root / "demo"
    cmd = [sys.executable, "-c", "from coverage.cli import main; main()", "demo"]
    res = subprocess.run(
        [*cmd, "--out", str(out), "--cache-dir", str(root / "cache")],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    return out, res


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the ``report`` properties tests recorded (e.g. the circles' sampled shares)."""
    lines = [
        str(value)
        for report in terminalreporter.stats.get("passed", [])
        for key, value in getattr(report, "user_properties", [])
        if key == "report"
    ]
    if lines:
        terminalreporter.section("reports")
        for line in lines:
            terminalreporter.write_line(line)
