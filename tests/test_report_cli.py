"""`coverage-planner report` as cron runs it: history across runs, SIGKILL, the lock, a
read-only folder. Real subprocesses on the CAU extract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from _studies import cau_study
from coverage import history, report

pytestmark = pytest.mark.slow
CMD = [sys.executable, "-c", "from coverage.cli import main; main()"]
SLUG = "cau"


def _args(study: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [*CMD, "report", str(study), "--out", str(out), "--cache-dir", str(cache), *extra]


def run(study: Path, out: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _args(study, out, cache, *extra), capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A study with a first report (2026-11-01) already made."""
    folder = tmp_path_factory.mktemp("cau-report")
    study = cau_study(folder)
    out, cache = folder / "reports", folder / "cache"
    res = run(study, out, cache, "--date", "2026-11-01")
    assert res.returncode == 0, res.stderr
    return study, out, cache


def _state(root: Path) -> tuple[list[str], dict[str, str], bytes]:
    """The visible folders, each report's run id, and the history's bytes."""
    visible = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
    ids = {
        p.name: json.loads((p / "run.json").read_text(encoding="utf-8"))["run_id"]
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".")
    }
    return visible, ids, (root / history.HISTORY_FILE).read_bytes()


def test_first_report_is_complete(base) -> None:
    _study, out, _cache = base
    folder = out / SLUG / "2026-11-01"
    names = {p.name for p in folder.iterdir()}
    assert {
        "report.html",
        "gaps.xlsx",
        "map.html",
        "run.json",
        "run.log",
        "summary.json",
        "compounds.csv",
        "gaps.csv",
        "stations.csv",
        "summary.csv",
        "coverage.gpkg",
    } <= names
    log = (folder / "run.log").read_text(encoding="utf-8")
    assert "report 2026-11-01" in log and "INFO" in log
    assert not [p for p in (out / SLUG).iterdir() if p.name.endswith((".tmp", ".tmp.sqlite"))]


def test_report_tables_equal_those_of_analyze(base) -> None:
    """The report's tables are byte for byte those `coverage-planner analyze` writes."""
    study, out, cache = base
    res = subprocess.run(
        [
            *CMD,
            "analyze",
            str(study),
            "--out",
            str(out.parent / "analyze"),
            "--cache-dir",
            str(cache),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    for name in ("compounds.csv", "stations.csv", "gaps.csv", "summary.csv", "summary.json"):
        mine = (out / SLUG / "2026-11-01" / name).read_bytes()
        assert mine == (out.parent / "analyze" / name).read_bytes(), name


def _kill_when(cmd: list[str], ready: Callable[[], bool], timeout: float = 240) -> int:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    try:
        while not ready():
            if proc.poll() is not None or time.monotonic() - t0 > timeout:
                break
            time.sleep(0.005)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


KILL_POINTS = {
    "folder_begun": lambda root: any(root.glob(".2026-11-01.*.tmp")),
    "map_written": lambda root: any(root.glob(".2026-11-01.*.tmp/map.html")),
    "history_copy": lambda root: any(root.glob(".history.*.tmp.sqlite")),
}


def test_sigkill_leaves_the_previous_report_and_history(base) -> None:
    """Kill a run replacing 2026-11-01 at three points; then a run replaces it for real."""
    study, out, cache = base
    root = out / SLUG
    before = _state(root)
    cmd = _args(study, out, cache, "--date", "2026-11-01")
    for point, ready in KILL_POINTS.items():
        rc = _kill_when(cmd, lambda ready=ready: ready(root))
        assert rc == -signal.SIGKILL, f"{point}: the run ended before the kill ({rc})"
        # same visible folders, the same report (run id) and the same history bytes
        assert _state(root) == before, point
        leftovers = [p.name for p in root.iterdir() if p.name.startswith(".") and p.name != ".lock"]
        # only temporary files: the report folder, the history copy (and SQLite's journal)
        assert all(n.endswith((".tmp", ".tmp.sqlite", ".tmp.sqlite-journal")) for n in leftovers), (
            leftovers
        )
    # the next run clears what the killed ones left and replaces that day's report
    res = run(study, out, cache, "--date", "2026-11-01")
    assert res.returncode == 0, res.stderr
    assert not [p for p in root.iterdir() if ".tmp" in p.name]
    runs = history.read_runs(root / history.HISTORY_FILE)
    assert list(runs["run_date"]) == ["2026-11-01"]  # replaced, not duplicated
    new_id = json.loads((root / "2026-11-01" / "run.json").read_text())["run_id"]
    assert new_id != before[1]["2026-11-01"] and runs["run_id"].iloc[0] == new_id
    assert oct((root / "2026-11-01").stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_second_run_waits_or_exits_3(base) -> None:
    study, out, cache = base
    root = out / SLUG
    before = _state(root)
    with report.study_lock(root):
        # one run waits for the lock, one gives up at once
        waiter = subprocess.Popen(
            _args(study, out, cache, "--date", "2026-11-03", "--wait", "300"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        t0 = time.monotonic()
        res = run(study, out, cache, "--date", "2026-11-02")
        held = time.monotonic() - t0
        assert waiter.poll() is None
    assert res.returncode == 3, res.stderr
    assert "另一次报告运行" in res.stderr and "--wait" in res.stderr
    assert "Traceback" not in res.stderr
    assert _state(root) == before
    try:
        # the waiter runs now; a run started while it works exits 3 too
        t1 = time.monotonic()
        while not any(root.glob(".2026-11-03.*.tmp")) and time.monotonic() - t1 < 200:
            time.sleep(0.01)
        busy = run(study, out, cache, "--date", "2026-11-03")
    finally:
        assert waiter.wait(timeout=300) == 0
    assert held > 1.0 and busy.returncode == 3, busy.stderr
    runs = history.read_runs(root / history.HISTORY_FILE)
    assert list(runs["run_date"]) == ["2026-11-01", "2026-11-03"]


def test_unwritable_output_folder(base, tmp_path: Path) -> None:
    study, _out, cache = base
    if os.geteuid() == 0:
        target = Path("/sys/coverage-planner-test")  # read-only for root too
    else:
        target = tmp_path / "ro"
        target.mkdir()
        target.chmod(0o555)
    res = run(study, target, cache)
    assert res.returncode in (1, 2), res.stderr
    assert "无法写入输出文件夹" in res.stderr and "Traceback" not in res.stderr
    assert "--out" in res.stderr


def test_a_removed_station_shows_in_the_history(base) -> None:
    """Runs last: it changes the base study (a station closes)."""
    study2, out2, cache = base
    (study2.parent / "party.csv").write_text(
        "id,name,lon,lat\nP1,a,116.3525,40.0035\n", encoding="utf-8"
    )
    res = run(study2, out2, cache, "--date", "2026-12-01")
    assert res.returncode == 0, res.stderr
    assert "撤销站点 2 个" in res.stdout, res.stdout
    db = out2 / SLUG / history.HISTORY_FILE
    runs = history.read_runs(db)
    assert list(runs["run_date"])[-2:] == ["2026-11-03", "2026-12-01"]
    prev = history.load_run(db, runs["run_id"].iloc[-2])
    now = history.load_run(db, runs["run_id"].iloc[-1])
    ch = history.compare_runs(now, prev)
    assert sorted(ch.stations_removed["station_id"]) == ["P2", "P2"]  # from both services
    page = (out2 / SLUG / "2026-12-01" / "report.html").read_text(encoding="utf-8")
    section = page[page.index("id='changes'") : page.index("id='gaps'")]
    assert "撤销站点 (2)" in section and "<td>P2</td>" in section
    # the report's numbers are those of summary.json, and the coverage went down or stayed
    summary = json.loads((out2 / SLUG / "2026-12-01" / "summary.json").read_text())["services"]
    cov = history.read_coverage_history(db)
    last = cov[cov["run_date"] == pd.Timestamp("2026-12-01")]
    for key, svc in summary.items():
        for minutes, v in svc["thresholds"].items():
            row = last[(last["service"] == key) & (last["minutes"] == float(minutes))]
            assert row["households_covered"].iloc[0] == v["households_covered"]
    first = cov[cov["run_date"] == pd.Timestamp("2026-11-03")]
    assert (last["households_covered"].to_numpy() <= first["households_covered"].to_numpy()).all()
    assert (last["households_covered"].to_numpy() < first["households_covered"].to_numpy()).any()
