"""A report run killed between renaming its folder into place and renaming the history.

The child pauses exactly there (the history copy's rename) and says so; the test kills it
with SIGKILL. The next run must record the killed run's report in the history.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import _children
from _studies import cau_study
from coverage import history

pytestmark = pytest.mark.slow
CMD = [sys.executable, "-c", "from coverage.cli import main; main()"]

# pauses when the history copy is about to be renamed onto history.sqlite (tests/_children.py)
_AT_HISTORY_RENAME = """
real_replace = os.replace
def replace(src, dst, *args, **kwargs):
    if str(src).endswith(".tmp.sqlite"):
        pause("history_rename")
    return real_replace(src, dst, *args, **kwargs)
os.replace = replace
"""


def _report(study: Path, out: Path, cache: Path, date: str) -> list[str]:
    return ["report", str(study), "--out", str(out), "--cache-dir", str(cache), "--date", date]


def _run_id(folder: Path) -> str:
    return str(json.loads((folder / "run.json").read_text(encoding="utf-8"))["run_id"])


def test_killed_between_the_folder_and_the_history(tmp_path: Path) -> None:
    study = cau_study(tmp_path)
    out, cache = tmp_path / "reports", tmp_path / "cache"
    root = out / "cau"
    # the study's first report is killed (the history does not exist yet: the hardest case)
    child = _children.spawn(_AT_HISTORY_RENAME, _report(study, out, cache, "2026-11-02"))
    try:
        _children.wait_for(child, "history_rename")
        child.send_signal(signal.SIGKILL)
        _children.finish(child)
    finally:
        _children.stop(child)
    assert child.returncode == -signal.SIGKILL
    # the window: the report is in place, the history does not know it yet
    killed_id = _run_id(root / "2026-11-02")
    assert not (root / history.HISTORY_FILE).exists()
    assert len(list(root.glob(".history.*.tmp.sqlite"))) == 1
    # the next run records it, then its own
    res = subprocess.run(
        [*CMD, *_report(study, out, cache, "2026-11-03")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    runs = history.read_runs(root / history.HISTORY_FILE)
    assert list(runs["run_date"]) == ["2026-11-02", "2026-11-03"]
    by_date = dict(zip(runs["run_date"], runs["run_id"], strict=True))
    assert by_date["2026-11-02"] == killed_id
    assert by_date["2026-11-03"] == _run_id(root / "2026-11-03")
    assert not list(root.glob(".*.tmp*"))
    # the next report compares with the killed one (recorded late)
    assert "2026-11-02" in (root / "2026-11-03" / "report.html").read_text(encoding="utf-8")
