"""The report history: schema versions, one run per date, what changed between runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from _mapdata import analysed
from coverage import history
from coverage.errors import InputError


def _snapshot(analysis) -> history.RunSnapshot:
    return history.snapshot_from_tables(
        {k: r.summary for k, r in analysis.services.items()},
        {k: r.gaps for k, r in analysis.services.items()},
        {k: r.loads for k, r in analysis.services.items()},
        labels={"party": "党群服务站", "meal": "助餐点"},
    )


@pytest.fixture(scope="module")
def snapshot() -> history.RunSnapshot:
    return _snapshot(analysed()[2])


def _info(run_id: str, date: str) -> history.RunInfo:
    return history.RunInfo(run_id=run_id, run_date=date, study_name="t")


def test_snapshot_matches_the_analysis(snapshot) -> None:
    _s, _n, analysis = analysed()
    overall = snapshot.coverage[snapshot.coverage["group_level"] == ""]
    for key, svc in analysis.summary.items():
        for minutes, v in svc["thresholds"].items():
            row = overall[(overall["service"] == key) & (overall["minutes"] == float(minutes))]
            assert len(row) == 1
            assert row["households_covered"].iloc[0] == v["households_covered"]
    assert sorted(snapshot.stations["station_id"]) == ["D1", "D2", "D3", "M1", "M2"]
    n_gaps = sum(len(r.gaps) for r in analysis.services.values())
    assert len(snapshot.gaps) == n_gaps


def test_same_date_replaces_and_previous_is_strictly_before(tmp_path: Path, snapshot) -> None:
    db = tmp_path / history.HISTORY_FILE
    for run_id, date in (("a", "2026-10-01"), ("b", "2026-11-01"), ("c", "2026-11-01")):
        tmp = history.updated_copy(db, _info(run_id, date), snapshot)
        tmp.replace(db)
    runs = history.read_runs(db)
    assert list(runs["run_id"]) == ["a", "c"]  # the second run of 11-01 replaced the first
    with sqlite3.connect(db) as conn:
        counts = conn.execute(
            "SELECT run_id, COUNT(*) FROM coverage GROUP BY run_id ORDER BY run_id"
        ).fetchall()
    assert [c[0] for c in counts] == ["a", "c"]
    assert counts[0][1] == counts[1][1] == len(snapshot.coverage)
    assert history.previous_run(db, before="2026-11-01").run_id == "a"
    assert history.previous_run(db, before="2026-12-01").run_id == "c"
    assert history.previous_run(db, before="2026-10-01") is None
    stored = history.load_run(db, "c")
    assert stored.stations["over_capacity"].dtype == bool
    assert len(stored.gaps) == len(snapshot.gaps)


def test_updated_copy_leaves_the_database_untouched(tmp_path: Path, snapshot) -> None:
    db = tmp_path / history.HISTORY_FILE
    history.updated_copy(db, _info("a", "2026-10-01"), snapshot).replace(db)
    before = db.read_bytes()
    tmp = history.updated_copy(db, _info("b", "2026-11-01"), snapshot)
    assert db.read_bytes() == before
    assert list(history.read_runs(tmp)["run_id"]) == ["a", "b"]


def test_newer_and_foreign_databases_are_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {history.SCHEMA_VERSION + 1}")
    with pytest.raises(InputError, match="newer"):
        history.connect(newer)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(InputError, match="not a coverage-planner history"):
        history.connect(foreign)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="cannot be read"):
        history.connect(junk)


def test_an_older_database_is_migrated_in_place(tmp_path: Path, snapshot, monkeypatch) -> None:
    db = tmp_path / history.HISTORY_FILE
    history.updated_copy(db, _info("a", "2026-10-01"), snapshot).replace(db)

    def add_note(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE runs ADD COLUMN note TEXT DEFAULT ''")

    monkeypatch.setattr(history, "MIGRATIONS", [*history.MIGRATIONS, add_note])
    monkeypatch.setattr(history, "SCHEMA_VERSION", len(history.MIGRATIONS))
    conn = history.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == history.SCHEMA_VERSION
        assert conn.execute("SELECT run_id, note FROM runs").fetchall() == [("a", "")]
    finally:
        conn.close()


def test_removing_a_station_shows_in_the_changes(snapshot) -> None:
    s, net, _ = analysed()
    from _mapdata import compounds, stations
    from coverage import pipeline

    layers = stations()
    layers["party"] = layers["party"][layers["party"]["station_id"] != "D3"]
    after = _snapshot(pipeline.analyze(s, net, pipeline.StudyInputs(compounds(), layers)))
    ch = history.compare_runs(after, snapshot, info=_info("a", "2026-10-01"))
    assert list(ch.stations_removed["station_id"]) == ["D3"]
    assert ch.stations_added.empty
    party = ch.coverage[(ch.coverage["service"] == "party") & (ch.coverage["group_level"] == "")]
    assert (party["delta"] <= 0).all() and (party["delta"] < 0).any()
    # the compounds that lost their station within the largest threshold are new gaps
    before_ids = set(snapshot.gaps.loc[snapshot.gaps["service"] == "party", "compound_id"])
    after_ids = set(after.gaps.loc[after.gaps["service"] == "party", "compound_id"])
    assert set(ch.new_gaps["compound_id"]) == after_ids - before_ids
    assert ch.gaps_closed.empty
    # and back again: the station added, the gaps closed
    back = history.compare_runs(snapshot, after, info=_info("b", "2026-11-01"))
    assert list(back.stations_added["station_id"]) == ["D3"]
    assert set(back.gaps_closed["compound_id"]) == after_ids - before_ids
    first = history.compare_runs(snapshot, None)
    assert first.first_run and first.coverage["delta"].isna().all()
