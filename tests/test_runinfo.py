"""Tests of the run record (run.json)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from coverage import runinfo
from coverage.sample import demo_study


def test_file_digest_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    data = bytes(range(256)) * 5000  # more than one read chunk
    path.write_bytes(data)
    assert runinfo.file_digest(path) == hashlib.sha256(data).hexdigest()


def test_record_of_the_demo_study_names_every_input(tmp_path: Path) -> None:
    study = demo_study(tmp_path / "demo")
    started = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    finished = started + dt.timedelta(seconds=12.5)
    record = runinfo.run_record(
        command="analyze",
        started=started,
        finished=finished,
        study=study,
        timings={"analyze": 1.23456},
        outputs=["compounds.csv"],
    )
    assert record["seconds"] == 12.5
    assert record["timings"] == {"analyze": 1.235}
    roles = {e["role"] for e in record["inputs"]}
    assert "study" in roles
    assert {f"stations:{k}" for k in study.services} <= roles
    for entry in record["inputs"]:
        if not entry.get("missing"):
            expected = hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest()
            assert entry["sha256"] == expected
    assert record["versions"]["coverage-planner"] is not None
    path = runinfo.write_run_record(record, tmp_path / "out")
    assert json.loads(path.read_text(encoding="utf-8")) == record
    assert runinfo.read_run_record(tmp_path / "out") == record
    assert runinfo.read_run_record(tmp_path / "nowhere") is None
