"""The scheduled coverage-gap report: one run of a study, fit for cron and systemd timers.

:func:`run_report` runs the study (network from the cache, inputs, analysis with its walk-time
circles, siting when the study's ``[siting]`` table asks for it) and writes
``<out>/<study-slug>/<YYYY-MM-DD>/``: ``report.html`` (self-contained), ``gaps.xlsx``, the
``analyze`` outputs, ``map.html``, ``run.json`` and ``run.log``; and records the run in
``<out>/<study-slug>/history.sqlite`` (:mod:`coverage.history`).

All-or-nothing: the folder is written under a temporary name beside the target and renamed
into place (:func:`coverage._atomic.atomic_dir`); the history is updated in a temporary copy
renamed onto the database right after, so a killed run leaves the previous report and the
history as they were; a run killed between the two renames left its report in place, and the
next run records it (the history copy is finished, not thrown away). One run per study at a
time: an ``fcntl`` lock on ``<out>/<study-slug>/.lock`` (a second run waits up to ``wait``
seconds, then raises :class:`coverage.errors.LockedError`). A second run on the same date
replaces that date's report and history rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import sqlite3
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from coverage import charts, history, labels, outputs, pipeline, reportpage, runinfo, workbook
from coverage._atomic import atomic_dir
from coverage.config import Study, load_study
from coverage.errors import CoverageError, LockedError, OutputError
from coverage.network import WalkNetwork
from coverage.results import Analysis, StudyInputs

__all__ = [
    "LOCK_FILE",
    "LOG_FILE",
    "ReportResult",
    "batch_step",
    "report_slug",
    "run_report",
    "study_lock",
    "write_report",
]

log = logging.getLogger(__name__)

#: The lock file in a study's report folder.
LOCK_FILE = ".lock"
#: The log of a run, in its dated folder.
LOG_FILE = "run.log"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SLUG_DROP = re.compile(r"[^0-9A-Za-z\u3400-\u9fff]+")


@dataclass(frozen=True)
class ReportResult:
    """One report run.

    Attributes
    ----------
    folder
        The dated report folder.
    files
        The files in it (names).
    analysis
        The analysis shown.
    changes
        What changed since the previous run.
    record
        The run record (``run.json``).
    """

    folder: Path
    files: list[str]
    analysis: Analysis
    changes: history.Changes
    record: dict[str, Any]


def report_slug(name: str, *, fallback: str = "study") -> str:
    """The folder name of a study's reports: its name's letters, digits and Chinese characters.

    Parameters
    ----------
    name
        The study's name.
    fallback
        Used when the name has none of those (e.g. the study file's stem).

    Returns
    -------
    str

    Examples
    --------
    >>> report_slug("池州市 贵池区 (2026)")
    '池州市-贵池区-2026'
    >>> report_slug("***", fallback="guichi")
    'guichi'
    """
    slug = _SLUG_DROP.sub("-", name).strip("-").lower()[:60].strip("-")
    return slug or _SLUG_DROP.sub("-", fallback).strip("-").lower() or "study"


def _check_date(date: str) -> str:
    from coverage.errors import InputError

    try:
        if _DATE.match(date):
            dt.date.fromisoformat(date)
            return date
    except ValueError:
        pass
    raise InputError(f"--date: 应为 YYYY-MM-DD (expected YYYY-MM-DD), got {date!r}")


@contextlib.contextmanager
def study_lock(
    folder: Path, *, wait_s: float = 0.0, slug: str = "", lang: str = "zh"
) -> Iterator[Path]:
    """Hold the study's lock (``fcntl.flock`` on ``folder/.lock``) for the block.

    Parameters
    ----------
    folder
        The study's report folder (created when missing).
    wait_s
        Seconds to wait for another run to finish.
    slug, lang
        For the message.

    Raises
    ------
    LockedError
        Still held by another run after ``wait_s`` seconds.
    OutputError
        The folder cannot be created or written.
    """
    path = folder / LOCK_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _unwritable(folder, exc, lang) from None
    try:
        deadline = time.monotonic() + max(wait_s, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise LockedError(
                        labels.text("report_locked", lang, slug=slug, lock=path, wait=wait_s)
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)  # releases the lock


def _unwritable(path: Path, exc: OSError, lang: str) -> OutputError:
    return OutputError(labels.text("report_unwritable", lang, path=path, error=exc.strerror or exc))


def _check_writable(folder: Path, lang: str) -> None:
    """Fail early (before any work) when the folder cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise _unwritable(folder, exc, lang) from None


def _usual_mode(path: Path, mode: int) -> None:
    """Give a temporary file or folder the permissions a new one would get (umask applied)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(mode & ~umask)


# a killed copy of the history: the temporary database and SQLite's side files beside it
_HISTORY_LEFTOVERS = (".tmp.sqlite", ".tmp.sqlite-journal", ".tmp.sqlite-wal", ".tmp.sqlite-shm")


def _folder_run_id(folder: Path) -> str | None:
    """The run id in a report folder's ``run.json`` (None when it has none or cannot be read)."""
    try:
        record = json.loads((folder / runinfo.RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record.get("run_id") if isinstance(record, dict) else None


def _finish_history(folder: Path, leftover: Path) -> bool:
    """Rename a killed run's history copy onto the history when its report is in place.

    A run renames its report folder into place, then its history copy
    (``.history.*.tmp.sqlite``) onto ``history.sqlite``; killed between the two, the report
    is visible but not recorded. The copy is complete then (it is written before the folder
    is renamed): when it holds a run that the history lacks and whose folder's ``run.json``
    carries that run's id, it becomes the history. Any other copy (a run killed earlier,
    whose folder never got in place) is not used.
    """
    db = folder / history.HISTORY_FILE
    try:
        runs = history.read_runs(leftover)
        known = set(history.read_runs(db)["run_id"])
    except (sqlite3.Error, CoverageError):
        return False
    for run in runs.itertuples():
        if run.run_id not in known and _folder_run_id(folder / str(run.report_dir)) == run.run_id:
            os.replace(leftover, db)
            log.warning(
                "recorded the report %s in the history (its run was interrupted after writing it)",
                run.report_dir,
            )
            return True
    return False


def _clear_leftovers(folder: Path) -> None:
    """Temporary folders and files of runs that were killed (we hold the lock).

    Report folders first (a previous report moved aside comes back), then history copies: the
    copy of a run whose report got in place is finished (:func:`_finish_history`), the others
    are removed, and last SQLite's side files of the copies (after SQLite has read them).
    """

    def order(path: Path) -> int:
        if path.name.endswith(".tmp.sqlite"):
            return 1
        return 2 if path.name.endswith(_HISTORY_LEFTOVERS) else 0

    for item in sorted(folder.iterdir(), key=order):
        name = item.name
        if not name.startswith("."):
            continue
        if item.is_dir() and ".old-" in name:
            # killed between moving the previous report aside and moving the new one in
            original = folder / name[1 : name.index(".old-")]
            if not original.exists():
                os.replace(item, original)
                log.warning("restored the previous report %s (a run was interrupted)", original)
            else:
                shutil.rmtree(item, ignore_errors=True)
        elif item.is_dir() and name.endswith(".tmp"):
            shutil.rmtree(item, ignore_errors=True)
            log.info("removed the leftover of an interrupted run: %s", item)
        elif item.is_file() and name.endswith(_HISTORY_LEFTOVERS):
            if name.endswith(".tmp.sqlite") and _finish_history(folder, item):
                continue
            item.unlink(missing_ok=True)
            log.info("removed the leftover of an interrupted run: %s", item)


@contextlib.contextmanager
def _run_log(path: Path) -> Iterator[logging.Handler]:
    """Send the library's log (INFO and up) and its warnings to ``path`` for the block."""
    logger = logging.getLogger("coverage")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    old_level = logger.level
    lowered = logger.getEffectiveLevel() > logging.INFO
    pinned: list[tuple[logging.Handler, int]] = []
    if lowered:  # the other handlers keep showing what they showed before
        for h in logger.handlers:
            pinned.append((h, h.level))
            h.setLevel(max(h.level, logger.getEffectiveLevel()))
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    previous_show = warnings.showwarning

    def show(
        message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        handler.handle(
            logging.LogRecord(
                "coverage", logging.WARNING, filename, lineno, str(message), None, None
            )
        )
        previous_show(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield handler
    finally:
        warnings.showwarning = previous_show
        logger.removeHandler(handler)
        handler.close()
        if lowered:
            logger.setLevel(old_level)
            for h, level in pinned:
                h.setLevel(level)


def _labels(study: Study, lang: str) -> dict[str, str]:
    return {k: labels.pick(s.label_zh, s.label_en, lang) for k, s in study.services.items()}


def _settings(study: Study, lang: str) -> list[tuple[str, str]]:
    rows = [
        ("network", study.network.describe()),
        ("language", lang),
        ("max_snap_m", f"{study.max_snap_m:g}"),
        ("access", study.access),
        ("gate_tolerance_m", f"{study.gate_tolerance_m:g}"),
        ("frontage_m", f"{study.frontage_m:g}"),
        ("group_by", ", ".join(study.group_by) or "auto"),
    ]
    for name, p in study.profiles.items():
        factors = ", ".join(f"{k}×{v:g}" for k, v in p.factors.items())
        rows.append(
            (f"profiles.{name}", f"{p.speed_kmh:g} km/h" + (f" ({factors})" if factors else ""))
        )
    for key, s in study.services.items():
        cap = "" if s.capacity is None else f", capacity {s.capacity:g}"
        minutes = "/".join(f"{m:g}" for m in s.minutes)
        rows.append(
            (f"services.{key}", f"{s.label_zh} / {s.label_en}: {minutes} min, {s.profile}{cap}")
        )
    if study.siting is not None:
        r = study.siting
        rows.append(
            (
                "siting",
                f"{r.service}: +{r.new}, T={r.minutes or 'max'}, {', '.join(r.generate) or '-'}",
            )
        )
    return rows


def _groups_table(snapshot: history.RunSnapshot, service_labels: dict[str, str]) -> pd.DataFrame:
    cov = snapshot.coverage
    groups = cov[cov["group_level"] != ""].copy()
    groups["label"] = [service_labels.get(k, k) for k in groups["service"]]
    return groups.reset_index(drop=True)


def _run_siting(
    study: Study, net: WalkNetwork, data: StudyInputs, *, cache_dir: str | Path | None
) -> Any:
    from coverage import siting_study

    request = study.siting
    assert request is not None
    features = None
    if {"osm", "gates"} & set(request.generate) and study.network.osm_file is not None:
        features = pipeline.osm_features_for_study(study, cache_dir=cache_dir)
    generate = [g for g in request.generate if features is not None or g == "kmeans"]
    if dropped := sorted(set(request.generate) - set(generate)):
        log.warning(
            "siting: candidates from %s need the study's network from an osm_file; skipped",
            ", ".join(dropped),
        )
    return siting_study.site_service(
        study,
        net,
        data,
        service=request.service,
        new=request.new,
        minutes=request.minutes,
        generate=generate,
        features=features,
        curve_k=request.curve,
    )


def write_report(
    folder: str | Path,
    *,
    study: Study,
    analysis: Analysis,
    network: WalkNetwork | None,
    run_date: str,
    previous: tuple[history.RunInfo, history.RunSnapshot] | None = None,
    siting: Any = None,
    lang: str | None = None,
    basemap: str = "none",
    timings: dict[str, float] | None = None,
    started: dt.datetime | None = None,
    run_id: str = "",
) -> tuple[list[str], history.RunSnapshot, history.Changes, dict[str, Any]]:
    """Write a report's files into ``folder`` (an existing, empty folder).

    Parameters
    ----------
    folder
        Where to write (the caller makes it all-or-nothing).
    study, analysis, network
        The run's study, analysis and network (``network`` draws the basemap of ``map.html``
        when ``basemap="none"``, and the extent of the map data whatever the basemap).
    run_date
        ``YYYY-MM-DD``.
    previous
        The previous run from the history, when there is one.
    siting
        A :class:`coverage.siting_study.SitingResult` to show, optional.
    lang
        ``"zh"``/``"en"``; default the study's language.
    basemap
        The map's basemap (see :func:`coverage.maps.coverage_map`).
    timings
        Seconds per step so far (recorded in ``run.json``).
    started
        When the run started.
    run_id
        The run id (``run.json`` and the history).

    Returns
    -------
    tuple
        The file names written, the run's history snapshot, the changes since the previous
        run, and the run record.
    """
    from coverage import maps, siting_study

    folder = Path(folder)
    lang = lang or study.language
    started = started or dt.datetime.now(dt.UTC)
    timings = dict(timings or {})
    t0 = time.perf_counter()
    service_labels = _labels(study, lang)
    files = [p.name for p in outputs.write_analysis(analysis, folder)]
    snapshot = history.snapshot_from_tables(
        {k: r.summary for k, r in analysis.services.items()},
        {k: r.gaps for k, r in analysis.services.items()},
        {k: r.loads for k, r in analysis.services.items()},
        labels=service_labels,
    )
    changes = history.compare_runs(
        snapshot, previous[1] if previous else None, info=previous[0] if previous else None
    )
    m = maps.coverage_map(
        analysis,
        study=study,
        network=network,
        basemap=basemap,
        lang=lang,
        sites=siting.sites if siting is not None else None,
        service=siting.service if siting is not None else None,
    )
    files.append(maps.write_map(m, folder / "map.html").name)
    if siting is not None:
        files += [f"siting/{p.name}" for p in siting_study.write_siting(siting, folder / "siting")]
    timings["outputs"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    overall = snapshot.coverage[snapshot.coverage["group_level"] == ""].reset_index(drop=True)
    font = charts.cjk_font()
    chart_lang = lang if font else "en"
    chart = charts.coverage_by_threshold_svg(
        overall.assign(
            label=[labels.pick(*_both(study, k), chart_lang) for k in overall["service"]]
        ),
        title=labels.text("report_chart_title", chart_lang),
        xlabel=labels.text("report_chart_x", chart_lang),
        ylabel=labels.text("report_chart_y", chart_lang),
        total_label=labels.text("report_chart_total", chart_lang),
    )
    siting_part = None
    if siting is not None:
        curve_svg = ""
        if len(siting.curve):
            curve_svg = charts.coverage_curve_svg(
                siting.curve,
                title=labels.text("report_curve_title", chart_lang),
                xlabel=labels.text("report_curve_x", chart_lang),
                ylabel=labels.text("report_curve_y", chart_lang),
            )
        siting_part = {
            "summary": siting.summary,
            "sites": siting.sites,
            "curve_svg": curve_svg,
            "label": service_labels.get(siting.service, siting.service),
        }
    groups = _groups_table(snapshot, service_labels)
    gap_tables = {k: r.gaps for k, r in analysis.services.items()}
    load_tables = {k: r.loads for k, r in analysis.services.items()}
    by = (
        pipeline.group_columns(study, next(iter(analysis.services.values())).assessed)
        if analysis.services
        else []
    )
    workbook.write_gaps_workbook(
        folder / "gaps.xlsx",
        summary=overall,
        gaps=gap_tables,
        loads=load_tables,
        groups=groups,
        service_labels=service_labels,
        group_columns=by,
        lang=lang,
        note=study.note,
    )
    files.append("gaps.xlsx")
    timings["charts_workbook"] = time.perf_counter() - t0
    finished = dt.datetime.now(dt.UTC)
    files += ["report.html", runinfo.RUN_FILE, LOG_FILE]
    record = runinfo.run_record(
        command="report",
        started=started,
        finished=finished,
        study=study,
        timings=timings,
        outputs=files,
        extra={
            "run_date": run_date,
            "previous_run": changes.previous.run_date if changes.previous else None,
            "language": lang,
            "cjk_font": font,
        },
    )
    if run_id:
        record["run_id"] = run_id
    content = reportpage.ReportContent(
        study_name=study.name,
        run_date=run_date,
        lang=lang,
        overall=overall,
        gaps=gap_tables,
        loads=load_tables,
        groups=groups,
        changes=changes,
        labels=service_labels,
        chart_svg=chart,
        inputs=record.get("inputs", []),
        settings=_settings(study, lang),
        run_id=str(record["run_id"]),
        version=str(record["versions"].get("coverage-planner")),
        seconds=float(record["seconds"]),
        note=study.note,
        data_date=study.data_date,
        cjk_font=font is not None,
        siting=siting_part,
    )
    (folder / "report.html").write_text(reportpage.report_html(content), encoding="utf-8")
    runinfo.write_run_record(record, folder)
    return files, snapshot, changes, record


def _both(study: Study, key: str) -> tuple[str, str]:
    s = study.services[key]
    return s.label_zh, s.label_en


_Make = Any  # (tmp folder, previous run, run id) -> (files, snapshot, changes, record)


def _publish(
    root: Path, run_date: str, make: _Make, *, wait_s: float, slug: str, lang: str
) -> tuple[list[str], history.Changes, dict[str, Any]]:
    """Lock, write the dated folder all-or-nothing, then swap the history in."""
    _check_writable(root, lang)
    with study_lock(root, wait_s=wait_s, slug=slug, lang=lang):
        _clear_leftovers(root)
        db = root / history.HISTORY_FILE
        before = history.previous_run(db, before=run_date)
        previous = (before, history.load_run(db, before.run_id)) if before else None
        run_id = f"{run_date}-{dt.datetime.now(dt.UTC).strftime('%H%M%S')}-{os.getpid()}"
        new_db: Path | None = None
        try:
            with atomic_dir(root / run_date) as tmp, _run_log(tmp / LOG_FILE):
                _usual_mode(tmp, 0o777)  # mkdtemp makes it private
                files, snapshot, changes, record = make(tmp, previous, run_id)
                info = history.RunInfo(
                    run_id=run_id,
                    run_date=run_date,
                    started=record["started"],
                    finished=record["finished"],
                    study_name=str(record.get("study", {}).get("name", "")),
                    study_sha256=next(
                        (
                            f.get("sha256", "")
                            for f in record.get("inputs", [])
                            if f["role"] == "study"
                        ),
                        "",
                    ),
                    version=str(record["versions"].get("coverage-planner")),
                    report_dir=run_date,
                )
                new_db = history.updated_copy(db, info, snapshot)
                _usual_mode(new_db, 0o666)
                log.info("report %s written in %.1f s", run_date, record["seconds"])
        except BaseException:
            if new_db is not None:
                new_db.unlink(missing_ok=True)
            raise
        assert new_db is not None
        os.replace(new_db, db)  # the folder is in place: now the history
    return files, changes, record


def run_report(
    study_file: str | Path,
    *,
    out_dir: str | Path,
    run_date: str | None = None,
    slug: str | None = None,
    wait_s: float = 0.0,
    cache_dir: str | Path | None = None,
    refresh: bool = False,
    lang: str | None = None,
    basemap: str = "none",
    precomputed: tuple[WalkNetwork, StudyInputs, Analysis] | None = None,
    siting: Any = None,
    site: bool = True,
) -> ReportResult:
    """Run a study's scheduled report (see the module's description).

    Parameters
    ----------
    study_file
        The study (TOML).
    out_dir
        The reports folder; the report goes to ``out_dir/<slug>/<run_date>/``.
    run_date
        ``YYYY-MM-DD`` (default today, local time).
    slug
        The study's folder name (default :func:`report_slug`).
    wait_s
        Seconds to wait for another run of the same study.
    cache_dir, refresh
        The network cache (see :func:`coverage.pipeline.network_for_study`).
    lang
        ``"zh"``/``"en"`` (default the study's language).
    basemap
        The map's basemap (default ``"none"``: the walk network, fully offline).
    precomputed
        ``(network, inputs, analysis)`` already made for this study (the demo), else computed.
    siting
        A siting result already made; default: computed when the study asks for it.
    site
        Run the study's ``[siting]`` (when it has one and ``siting`` is not given).

    Returns
    -------
    ReportResult

    Raises
    ------
    InputError
        Bad study or input layers (nothing written).
    LockedError
        Another run of the study held the lock for ``wait_s`` seconds.
    OutputError
        The output folder cannot be written.
    """
    started = dt.datetime.now(dt.UTC)
    study = load_study(study_file)
    lang = lang or study.language
    run_date = _check_date(run_date) if run_date else dt.date.today().isoformat()
    slug = slug or report_slug(study.name, fallback=Path(study_file).stem)
    root = Path(out_dir) / slug
    made: dict[str, Analysis] = {}

    def make(tmp: Path, previous: Any, run_id: str) -> Any:
        log.info("report %s of %s (%s)", run_date, study.name, study_file)
        timings: dict[str, float] = {}
        if precomputed is None:
            t0 = time.perf_counter()
            net = pipeline.network_for_study(study, cache_dir=cache_dir, refresh=refresh)
            timings["network"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            data = pipeline.load_inputs(study, network=net, cache_dir=cache_dir)
            timings["inputs"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            analysis = pipeline.analyze(study, net, data)
            timings["analyze"] = time.perf_counter() - t0
        else:
            net, data, analysis = precomputed
        sited = siting
        if sited is None and site and study.siting is not None:
            t0 = time.perf_counter()
            sited = _run_siting(study, net, data, cache_dir=cache_dir)
            timings["siting"] = time.perf_counter() - t0
        made["analysis"] = analysis
        return write_report(
            tmp,
            study=study,
            analysis=analysis,
            network=net,
            run_date=run_date,
            previous=previous,
            siting=sited,
            lang=lang,
            basemap=basemap,
            timings=timings,
            started=started,
            run_id=run_id,
        )

    files, changes, record = _publish(root, run_date, make, wait_s=wait_s, slug=slug, lang=lang)
    return ReportResult(root / run_date, files, made["analysis"], changes, record)


def batch_step(
    *, study: Study, network: WalkNetwork, inputs: StudyInputs, analysis: Analysis, out_dir: Path
) -> list[Path]:
    """The batch's ``report`` step: one area's report (see
    :data:`coverage.batchfile.AREA_STEPS`).

    Written to ``out_dir/<YYYY-MM-DD>/`` with the area's history beside it, in the same
    all-or-nothing way as :func:`run_report` (the area's folder is its study folder).
    """
    out_dir = Path(out_dir)
    run_date = dt.date.today().isoformat()

    def make(tmp: Path, previous: Any, run_id: str) -> Any:
        return write_report(
            tmp,
            study=study,
            analysis=analysis,
            network=network,
            run_date=run_date,
            previous=previous,
            run_id=run_id,
        )

    files, _changes, _record = _publish(
        out_dir, run_date, make, wait_s=60.0, slug=out_dir.name, lang=study.language
    )
    return [out_dir / run_date / f for f in files] + [out_dir / history.HISTORY_FILE]
