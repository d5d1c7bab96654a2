"""The history of a study's scheduled reports: one SQLite database beside the reports.

Each report run stores its per-service, per-threshold and per-group coverage, its gaps and its
stations (:class:`RunSnapshot`) as one row of ``runs`` and the rows that hang off it; a second
run on the same date replaces that date's run, never duplicates it. :func:`compare_runs` says
what changed since the previous run: coverage up or down per service and group, gaps closed,
new gaps, stations added and removed (by id).

The schema carries its version in SQLite's ``user_version``; :data:`MIGRATIONS` holds the
steps from each version to the next, applied in one transaction when an older database is
opened, and a database written by a newer version is refused with a clear message.

Writing is all-or-nothing: :func:`updated_copy` copies the database to a temporary file beside
it and records the run there; the caller renames it onto the database once the report folder is
in place, so a killed run leaves the old database as it was.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from coverage.errors import InputError, Problem

__all__ = [
    "HISTORY_FILE",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Changes",
    "RunInfo",
    "RunSnapshot",
    "compare_runs",
    "connect",
    "load_run",
    "previous_run",
    "read_coverage_history",
    "read_runs",
    "record_run",
    "snapshot_from_tables",
    "updated_copy",
]

#: File name of the history database in a study's report folder.
HISTORY_FILE = "history.sqlite"

_COVERAGE_COLUMNS = [
    "service",
    "label",
    "group_level",
    "group_name",
    "minutes",
    "households_total",
    "households_covered",
    "share_covered",
    "compounds_total",
    "compounds_covered",
]
_GAP_COLUMNS = ["service", "compound_id", "name", "households", "walk_min", "reason"]
_STATION_COLUMNS = [
    "service",
    "station_id",
    "name",
    "households_served",
    "capacity",
    "over_capacity",
]

_SCHEMA_1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    run_date TEXT NOT NULL UNIQUE,
    started TEXT,
    finished TEXT,
    study_name TEXT,
    study_sha256 TEXT,
    version TEXT,
    report_dir TEXT
);
CREATE TABLE coverage (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    service TEXT NOT NULL,
    label TEXT,
    group_level TEXT NOT NULL,
    group_name TEXT NOT NULL,
    minutes REAL NOT NULL,
    households_total REAL,
    households_covered REAL,
    share_covered REAL,
    compounds_total INTEGER,
    compounds_covered INTEGER
);
CREATE INDEX coverage_run ON coverage(run_id);
CREATE TABLE gaps (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    service TEXT NOT NULL,
    compound_id TEXT NOT NULL,
    name TEXT,
    households REAL,
    walk_min REAL,
    reason TEXT
);
CREATE INDEX gaps_run ON gaps(run_id);
CREATE TABLE stations (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    service TEXT NOT NULL,
    station_id TEXT NOT NULL,
    name TEXT,
    households_served REAL,
    capacity REAL,
    over_capacity INTEGER
);
CREATE INDEX stations_run ON stations(run_id);
"""


#: Columns of a summary that say how many households are estimated (not grouping columns).
_ESTIMATE_COLUMNS = ("households_estimated", "share_estimated")


def _create_v1(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA_1)


#: ``MIGRATIONS[i]`` brings a database from schema version ``i`` to ``i + 1`` (version 0 is an
#: empty file). A new schema version appends its step here; older databases are upgraded on
#: open, in one transaction.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_create_v1]
#: The schema version this code writes.
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class RunInfo:
    """One report run: its id, date (``YYYY-MM-DD``) and where its report lives."""

    run_id: str
    run_date: str
    started: str = ""
    finished: str = ""
    study_name: str = ""
    study_sha256: str = ""
    version: str = ""
    report_dir: str = ""


@dataclass(frozen=True)
class RunSnapshot:
    """What one run found, as plain tables (the rows stored in the history).

    Attributes
    ----------
    coverage
        ``service, label, group_level, group_name, minutes, households_total,
        households_covered, share_covered, compounds_total, compounds_covered``; the overall
        row of a service has ``group_level == group_name == ""``.
    gaps
        ``service, compound_id, name, households, walk_min, reason``.
    stations
        ``service, station_id, name, households_served, capacity, over_capacity``.
    """

    coverage: pd.DataFrame
    gaps: pd.DataFrame
    stations: pd.DataFrame


@dataclass(frozen=True)
class Changes:
    """What changed between two runs (see :func:`compare_runs`).

    Attributes
    ----------
    previous
        The previous run (``None`` when this is the first).
    coverage
        One row per service, group and threshold present now: ``share_before``,
        ``share_after``, ``delta`` (percentage points as a share; NaN when new),
        ``households_before``, ``households_after``.
    gaps_closed, new_gaps
        Compounds (``service, compound_id, name, households``) that left / joined the gaps.
    stations_added, stations_removed
        Stations (``service, station_id, name``) by id.
    """

    previous: RunInfo | None
    coverage: pd.DataFrame
    gaps_closed: pd.DataFrame
    new_gaps: pd.DataFrame
    stations_added: pd.DataFrame
    stations_removed: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def first_run(self) -> bool:
        """No previous run to compare with."""
        return self.previous is None


# --------------------------------------------------------------------------------------------
# the database


def _refuse(path: str | Path, message: str) -> InputError:
    return InputError(Problem(str(path), message))


def _migrate(conn: sqlite3.Connection, path: str | Path) -> None:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise _refuse(
            path,
            f"历史数据库版本 {version} 比本程序支持的 {SCHEMA_VERSION} 新，请升级 coverage-planner "
            f"(history schema {version} is newer than this version's {SCHEMA_VERSION}; "
            "upgrade coverage-planner)",
        )
    if version == 0:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        if tables:
            raise _refuse(
                path,
                "不是 coverage-planner 的历史数据库，请移走或换一个输出文件夹 (not a "
                "coverage-planner history database; move it away or choose another --out)",
            )
    if version == SCHEMA_VERSION:
        return
    with conn:  # one transaction for every step
        for step in MIGRATIONS[version:]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating or upgrading when needed) a history database.

    Parameters
    ----------
    path
        The ``history.sqlite`` file.

    Returns
    -------
    sqlite3.Connection
        With foreign keys on.

    Raises
    ------
    InputError
        The file is not a history database, or one written by a newer version.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> conn = connect(pathlib.Path(tempfile.mkdtemp()) / "history.sqlite")
    >>> conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    True
    >>> conn.close()
    """
    conn = sqlite3.connect(str(path))
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _refuse(
            path, f"历史数据库无法读取 (the history database cannot be read): {exc}"
        ) from None
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def _open(path: str | Path) -> Iterator[sqlite3.Connection]:
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()


def record_run(conn: sqlite3.Connection, info: RunInfo, snapshot: RunSnapshot) -> None:
    """Store one run, replacing any run of the same date (one transaction).

    Parameters
    ----------
    conn
        From :func:`connect`.
    info
        The run.
    snapshot
        Its tables.
    """
    with conn:
        conn.execute(
            "DELETE FROM runs WHERE run_date = ? OR run_id = ?", (info.run_date, info.run_id)
        )
        conn.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                info.run_id,
                info.run_date,
                info.started,
                info.finished,
                info.study_name,
                info.study_sha256,
                info.version,
                info.report_dir,
            ),
        )
        for table, columns, frame in (
            ("coverage", _COVERAGE_COLUMNS, snapshot.coverage),
            ("gaps", _GAP_COLUMNS, snapshot.gaps),
            ("stations", _STATION_COLUMNS, snapshot.stations),
        ):
            rows = _rows(frame, columns)
            marks = ", ".join("?" * (len(columns) + 1))
            conn.executemany(
                f"INSERT INTO {table} (run_id, {', '.join(columns)}) VALUES ({marks})",
                [(info.run_id, *row) for row in rows],
            )


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple[Any, ...]]:
    table = frame.reindex(columns=columns).astype(object)
    table = table.where(pd.notna(table), None)
    out = []
    for row in table.itertuples(index=False, name=None):
        out.append(tuple(v.item() if hasattr(v, "item") else v for v in row))
    return out


def updated_copy(path: str | Path, info: RunInfo, snapshot: RunSnapshot) -> Path:
    """A copy of the history database with the run recorded, in a temporary file beside it.

    The database itself is not touched: rename the copy onto it (``os.replace``) once the
    report it belongs to is in place.

    Parameters
    ----------
    path
        The ``history.sqlite`` file (need not exist yet).
    info, snapshot
        The run and its tables.

    Returns
    -------
    Path
        The temporary file (``.history.*.tmp.sqlite`` in the same folder).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.sqlite", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        if path.exists():
            with _open(path) as src:
                dst = sqlite3.connect(str(tmp))
                try:
                    src.backup(dst)
                finally:
                    dst.close()
        with _open(tmp) as conn:
            record_run(conn, info, snapshot)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


# --------------------------------------------------------------------------------------------
# reading


def read_runs(path: str | Path) -> pd.DataFrame:
    """Every run of a history database, oldest first (empty when the file does not exist)."""
    columns = list(RunInfo.__dataclass_fields__)
    if not Path(path).exists():
        return pd.DataFrame(columns=columns)
    with _open(path) as conn:
        return pd.read_sql_query(f"SELECT {', '.join(columns)} FROM runs ORDER BY run_date", conn)


def read_coverage_history(path: str | Path, *, overall_only: bool = True) -> pd.DataFrame:
    """Coverage over time: one row per run, service, (group) and threshold.

    Parameters
    ----------
    path
        The ``history.sqlite`` file.
    overall_only
        Only the overall rows of each service (not the groups).

    Returns
    -------
    pandas.DataFrame
        ``run_date`` (datetime), then the coverage columns, sorted by date.
    """
    if not Path(path).exists():
        return pd.DataFrame(columns=["run_date", *_COVERAGE_COLUMNS])
    where = "WHERE c.group_level = ''" if overall_only else ""
    query = (
        f"SELECT r.run_date, {', '.join('c.' + c for c in _COVERAGE_COLUMNS)} FROM coverage c "
        f"JOIN runs r USING (run_id) {where} ORDER BY r.run_date, c.service, c.minutes"
    )
    with _open(path) as conn:
        frame = pd.read_sql_query(query, conn)
    frame["run_date"] = pd.to_datetime(frame["run_date"])
    return frame


def previous_run(path: str | Path, *, before: str) -> RunInfo | None:
    """The latest run dated strictly before ``before`` (``YYYY-MM-DD``), if any."""
    if not Path(path).exists():
        return None
    with _open(path) as conn:
        row = conn.execute(
            f"SELECT {', '.join(RunInfo.__dataclass_fields__)} FROM runs WHERE run_date < ? "
            "ORDER BY run_date DESC LIMIT 1",
            (before,),
        ).fetchone()
    return None if row is None else RunInfo(*row)


def load_run(path: str | Path, run_id: str) -> RunSnapshot:
    """The tables of one stored run."""
    with _open(path) as conn:
        frames = [
            pd.read_sql_query(
                f"SELECT {', '.join(cols)} FROM {table} WHERE run_id = ?", conn, params=(run_id,)
            )
            for table, cols in (
                ("coverage", _COVERAGE_COLUMNS),
                ("gaps", _GAP_COLUMNS),
                ("stations", _STATION_COLUMNS),
            )
        ]
    frames[2]["over_capacity"] = frames[2]["over_capacity"].astype(bool)
    return RunSnapshot(*frames)


# --------------------------------------------------------------------------------------------
# building and comparing snapshots


def _group_parts(summary: pd.DataFrame, by: list[str]) -> tuple[list[str], list[str]]:
    levels, names = [], []
    for row in summary[by].itertuples(index=False, name=None) if by else []:
        used = [(c, v) for c, v in zip(by, row, strict=True) if pd.notna(v)]
        levels.append(" / ".join(str(c) for c, _ in used))
        names.append(" / ".join(str(v) for _, v in used))
    return levels, names


def snapshot_from_tables(
    summaries: dict[str, pd.DataFrame],
    gaps: dict[str, pd.DataFrame],
    loads: dict[str, pd.DataFrame],
    *,
    labels: dict[str, str] | None = None,
) -> RunSnapshot:
    """The history rows of one run, from its per-service summary, gap and load tables.

    Parameters
    ----------
    summaries
        Per service: the ``summary`` table of :class:`coverage.results.ServiceResult`
        (``scope``, grouping columns, ``minutes``, counts).
    gaps
        Per service: the ranked gaps (``compound_id``, ``name``, ``households``,
        ``walk_min``, ``reason``).
    loads
        Per service: the station loads (``station_id``, ``name``, ``households_served``,
        ``capacity``, ``over_capacity``).
    labels
        Service labels by key (stored for the notebooks' legends).

    Returns
    -------
    RunSnapshot
    """
    labels = labels or {}
    parts = []
    for key, summary in summaries.items():
        # the estimate columns (issue 7) are counts, not grouping columns
        fixed = {"service", "scope", "minutes", *_COVERAGE_COLUMNS, *_ESTIMATE_COLUMNS}
        by = [c for c in summary.columns if c not in fixed]
        table = pd.DataFrame(summary).reset_index(drop=True)
        levels, names = _group_parts(table, by)
        overall = (table["scope"] == "overall").to_numpy()
        table["group_level"] = [
            "" if o else lv for o, lv in zip(overall, levels or [""] * len(table), strict=True)
        ]
        table["group_name"] = [
            "" if o else n for o, n in zip(overall, names or [""] * len(table), strict=True)
        ]
        table["service"] = key
        table["label"] = labels.get(key, key)
        parts.append(table.reindex(columns=_COVERAGE_COLUMNS))
    coverage = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=_COVERAGE_COLUMNS)
    )
    gap_parts = [g.assign(service=k).reindex(columns=_GAP_COLUMNS) for k, g in gaps.items()]
    station_parts = [
        s.assign(service=k).reindex(columns=_STATION_COLUMNS) for k, s in loads.items()
    ]
    gap_table = (
        pd.concat(gap_parts, ignore_index=True) if gap_parts else pd.DataFrame(columns=_GAP_COLUMNS)
    )
    station_table = (
        pd.concat(station_parts, ignore_index=True)
        if station_parts
        else pd.DataFrame(columns=_STATION_COLUMNS)
    )
    for table, col in ((gap_table, "compound_id"), (station_table, "station_id")):
        table[col] = table[col].astype(str)
    station_table["over_capacity"] = station_table["over_capacity"].fillna(False).astype(bool)
    return RunSnapshot(coverage, gap_table, station_table)


def _difference(now: pd.DataFrame, before: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rows of ``now`` whose (service, key) is not in ``before``."""
    seen = set(zip(before["service"].astype(str), before[key].astype(str), strict=True))
    mask = [
        (s, k) not in seen
        for s, k in zip(now["service"].astype(str), now[key].astype(str), strict=True)
    ]
    return now.loc[mask].reset_index(drop=True)


def compare_runs(
    current: RunSnapshot, previous: RunSnapshot | None, *, info: RunInfo | None = None
) -> Changes:
    """What changed since the previous run.

    Parameters
    ----------
    current
        This run.
    previous
        The previous run's tables (``None`` when this is the first run).
    info
        The previous run (shown in the report).

    Returns
    -------
    Changes
        Coverage per service, group and threshold before and after; gaps closed and new gaps
        (by compound id, per service); stations added and removed (by id, per service).
    """
    keys = ["service", "group_level", "group_name", "minutes"]
    now = current.coverage[[*keys, "label", "share_covered", "households_covered"]].rename(
        columns={"share_covered": "share_after", "households_covered": "households_after"}
    )
    if previous is None:
        empty_gaps = current.gaps.iloc[0:0]
        empty_stations = current.stations.iloc[0:0]
        table = now.assign(share_before=float("nan"), households_before=float("nan"))
        table["delta"] = float("nan")
        return Changes(None, table, empty_gaps, empty_gaps, empty_stations, empty_stations)
    before = previous.coverage[[*keys, "share_covered", "households_covered"]].rename(
        columns={"share_covered": "share_before", "households_covered": "households_before"}
    )
    table = now.merge(before, on=keys, how="left")
    table["delta"] = table["share_after"] - table["share_before"]
    gap_cols = ["service", "compound_id", "name", "households"]
    station_cols = ["service", "station_id", "name"]
    return Changes(
        info,
        table,
        gaps_closed=_difference(previous.gaps, current.gaps, "compound_id")[gap_cols],
        new_gaps=_difference(current.gaps, previous.gaps, "compound_id")[gap_cols],
        stations_added=_difference(current.stations, previous.stations, "station_id")[station_cols],
        stations_removed=_difference(previous.stations, current.stations, "station_id")[
            station_cols
        ],
    )
