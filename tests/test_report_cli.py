"""`coverage-planner report` as cron runs it: history across runs, SIGKILL, the lock, a
read-only folder. Real subprocesses on the CAU extract."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import _children
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


# where a run replacing a report pauses to be killed (tests/_children.py): each point wraps
# the function that reaches it, so the kill can come neither too early nor too late
KILL_POINTS = {
    "folder_begun": """
from contextlib import contextmanager
from coverage import report
real_atomic_dir = report.atomic_dir
@contextmanager
def atomic_dir(*args, **kwargs):
    with real_atomic_dir(*args, **kwargs) as tmp:
        pause("folder_begun")
        yield tmp
report.atomic_dir = atomic_dir
""",
    "map_written": _children.pause_after("maps", "write_map", "map_written"),
    # inside the history copy's transaction (the rows of its first table are being made):
    # SQLite's journal lies beside the copy
    "history_writing": _children.pause_after("history", "_rows", "history_writing"),
    "history_copy": _children.pause_after("history", "updated_copy", "history_copy"),
}
# what each point has left on disk when the child pauses there
ON_DISK = {
    "folder_begun": lambda root: any(root.glob(".2026-11-01.*.tmp")),
    "map_written": lambda root: any(root.glob(".2026-11-01.*.tmp/map.html")),
    "history_writing": lambda root: any(root.glob(".history.*.tmp.sqlite-*")),
    "history_copy": lambda root: any(root.glob(".history.*.tmp.sqlite")),
}


def _killed_at(point: str, args: list[str], root: Path) -> int:
    """Run ``report args``, SIGKILL it when it pauses at ``point``; its exit code."""
    child = _children.spawn(KILL_POINTS[point], args)
    try:
        _children.wait_for(child, point)
        assert ON_DISK[point](root), point
        child.send_signal(signal.SIGKILL)
        _children.finish(child)
    finally:
        _children.stop(child)
    return child.returncode


def test_sigkill_leaves_the_previous_report_and_history(base) -> None:
    """Kill a run replacing 2026-11-01 at four points; then a run replaces it for real."""
    study, out, cache = base
    root = out / SLUG
    before = _state(root)
    args = _args(study, out, cache, "--date", "2026-11-01")[len(CMD) :]
    for point in KILL_POINTS:
        assert _killed_at(point, args, root) == -signal.SIGKILL, point
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


# a run that says when it finds the study's lock taken (and goes on waiting for it)
_SAYS_WAITING = """
import errno, fcntl
real_flock, said = fcntl.flock, []
def flock(fd, op):
    try:
        return real_flock(fd, op)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES) and not said:
            said.append(True)
            say("waiting")
        raise
fcntl.flock = flock
"""


def test_a_second_run_waits_or_exits_3(base) -> None:
    study, out, cache = base
    root = out / SLUG
    before = _state(root)
    waiter_args = _args(study, out, cache, "--date", "2026-11-03", "--wait", "300")[len(CMD) :]
    lock = contextlib.ExitStack()
    lock.enter_context(report.study_lock(root))  # taken before the waiter starts
    # the waiter says when it finds the lock taken, and pauses once it holds it and works
    waiter = _children.spawn(_SAYS_WAITING + KILL_POINTS["folder_begun"], waiter_args)
    try:
        with lock:
            # one run waits for the lock, one gives up at once
            _children.wait_for(waiter, "waiting")
            res = run(study, out, cache, "--date", "2026-11-02")
            assert waiter.poll() is None  # still waiting (up to 300 s)
        assert res.returncode == 3, res.stderr
        assert "另一次报告运行" in res.stderr and "--wait" in res.stderr
        assert "Traceback" not in res.stderr
        assert _state(root) == before
        # the waiter runs now; a run started while it works exits 3 too
        _children.wait_for(waiter, "folder_begun")
        busy = run(study, out, cache, "--date", "2026-11-03")
        assert busy.returncode == 3, busy.stderr
        _children.resume(waiter)
        rest = _children.finish(waiter)
        assert waiter.returncode == 0, rest
    finally:
        lock.close()
        _children.stop(waiter)
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
