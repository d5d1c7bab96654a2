"""Output sets: a run's files appear together or not at all, and never over an input.

A command writes its files into a hidden staging folder inside the output folder
(``.coverage-staging-<command>-<run id>``), then *commits* them: under a lock on the output
folder, the staged files are renamed into place one by one, ``run.json`` last. Before the
renames a ``COMMIT.json`` marker is written into the staging folder: when a run is killed
during the renames (a handful of ``rename`` calls), the next command writing to or reading
from the folder (:func:`recover`) finishes them, so the folder always ends as one complete
set; a run killed before the marker leaves the previous set untouched, and its staging
folder is removed by the next run. SIGINT/SIGTERM are held back during the renames.

Planners keep their own files in output folders (the study folder is a natural ``--out``).
The rules that make sure nothing of theirs is lost:

- an output is never written over one of the study's input files
  (:func:`check_not_inputs`, exit code 2 at the command line);
- an existing file is replaced only when ``run.json`` of the folder lists it as written by
  this tool and it is unchanged since (same SHA-256); anything else (a planner's own
  ``summary.csv``, a result table edited and saved in Excel, outputs of a version without
  ``run.json``) is refused with its name, before the work starts;
- files are never moved or deleted, except this tool's own unchanged outputs of the same
  command that the new run no longer writes (so the folder holds no mix of two runs).

``run.json`` (:mod:`coverage.runinfo`) is the record of the folder's last run plus ``files``:
every output file of the folder with its SHA-256, the run that wrote it and the command;
``earlier_runs`` keeps the records of the runs whose files are still there (the analysis
beside a later map). :func:`verify_outputs` checks a folder against it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from coverage import runinfo
from coverage.config import Study
from coverage.errors import InputError, OutputError, Problem

try:  # POSIX; elsewhere runs go unlocked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "STAGING_PREFIX",
    "OutputSet",
    "check_not_inputs",
    "check_writable",
    "input_paths",
    "output_set",
    "recover",
    "verify_outputs",
]

log = logging.getLogger(__name__)

#: Name prefix of the staging folders inside an output folder.
STAGING_PREFIX = ".coverage-staging-"
_MARKER = "COMMIT.json"
_OLD = ".replaced-"


def input_paths(study: Study, *, extra: Iterable[str | Path] = ()) -> list[Path]:
    """The files a run of ``study`` reads: the study file, its layers, the OSM file, ...

    Parameters
    ----------
    study
        A loaded study.
    extra
        Further files the command reads (``--isochrones``, ``--sites``, a batch file).

    Returns
    -------
    list of Path
        Absolute paths (a Shapefile with its sidecar files).
    """
    paths = [Path(p).absolute() for p in runinfo.input_paths(study)]
    return paths + [Path(p).absolute() for p in extra]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_not_inputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path]) -> None:
    """Refuse outputs that would be written over an input file.

    Parameters
    ----------
    outputs
        The files a command is about to write (final paths, not temporary ones).
    inputs
        The files it reads (:func:`input_paths`).

    Raises
    ------
    InputError
        Naming every output that is an input (same path, or the same file through a link),
        and saying how to avoid it.

    Examples
    --------
    >>> check_not_inputs(["out/compounds.csv"], ["data/compounds.csv"])
    >>> check_not_inputs(["data/compounds.csv"], ["data/compounds.csv"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    coverage.errors.InputError: data/compounds.csv: 输出会覆盖输入文件...
    """
    given = [Path(p) for p in inputs]
    resolved = {p.resolve(): p for p in given}
    problems = []
    for out in map(Path, outputs):
        hit = resolved.get(out.resolve()) or next((p for p in given if _same_file(out, p)), None)
        if hit is not None:
            problems.append(
                Problem(
                    str(out),
                    "输出会覆盖输入文件，已停止；请用另一个 --out 文件夹（例如研究文件夹下的 "
                    "out/） (this output would overwrite an input file of the study; nothing "
                    "was written: choose another --out folder, e.g. out/ inside the study "
                    "folder)",
                )
            )
    if problems:
        raise InputError(problems)


def check_writable(folder: str | Path) -> Path:
    """Make sure ``folder`` exists (creating it) and files can be created in it.

    Parameters
    ----------
    folder
        The output folder.

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    OutputError
        The folder cannot be created or written (read-only mount, no permission, a file of
        that name, disk full), with the reason.
    """
    path = Path(folder)
    try:
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(20, "not a folder", str(path))
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".coverage-probe-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(
            f"输出文件夹无法写入 (the output folder cannot be written): {path}: "
            f"{exc.strerror or exc}；请换一个可写的 --out 文件夹 (choose a writable --out folder)"
        ) from exc
    return path


@contextlib.contextmanager
def _locked(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """An exclusive ``flock`` on a folder; yields whether it was taken."""
    if fcntl is None:  # pragma: no cover
        yield True
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _sha256(path: Path) -> str:
    return runinfo.file_digest(path)


def _entry_digest(path: Path) -> str | None:
    """SHA-256 of a file; of a folder, of its sorted relative names and file digests."""
    if path.is_file():
        return _sha256(path)
    if path.is_dir():
        lines = [
            f"{p.relative_to(path).as_posix()}:{_sha256(p) if p.is_file() else ''}"
            for p in sorted(path.rglob("*"))
        ]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return None


def _read_record(folder: Path) -> dict[str, Any]:
    return runinfo.read_run_record(folder) or {}


def _owned(folder: Path, record: Mapping[str, Any], name: str) -> bool:
    """Whether ``folder/name`` is this tool's unchanged output according to ``record``."""
    entry = record.get("files", {}).get(name)
    return entry is not None and _entry_digest(folder / name) == entry.get("sha256")


def _foreign(folder: Path, names: Iterable[str], record: Mapping[str, Any]) -> list[str]:
    """The names among ``names`` (and ``run.json``) in ``folder`` that are not provably ours."""
    found = [n for n in names if (folder / n).exists() and not _owned(folder, record, n)]
    if (folder / runinfo.RUN_FILE).exists() and "run_id" not in record:
        found.append(runinfo.RUN_FILE)  # a file of that name that is no run record of ours
    return found


def _foreign_error(folder: Path, names: list[str]) -> InputError:
    return InputError(
        [
            Problem(
                str(folder / n),
                "文件已存在，且不是本工具上次写出、未经改动的结果（见 run.json），"
                "为免丢失未覆盖它；请把它移走或改名，或换一个 --out 文件夹 "
                "(the file exists and is not an unchanged output of an earlier run recorded in "
                "run.json, so it was left alone and nothing was written: move or rename it, or "
                "choose another --out folder)",
            )
            for n in names
        ]
    )


def _roll_forward(folder: Path, staging: Path) -> None:
    """Finish a commit whose marker is written: move what is left into place."""
    plan = json.loads((staging / _MARKER).read_text(encoding="utf-8"))
    for name in plan["order"]:
        src = staging / name
        if not src.exists() and not src.is_symlink():
            continue  # moved before the interruption
        dst = folder / name
        if src.is_dir() and dst.is_dir():
            os.replace(dst, staging / f"{_OLD}{name}")
        os.replace(src, dst)
    for name, digest in plan.get("remove", {}).items():
        stale = folder / name
        if stale.exists() and _entry_digest(stale) == digest:
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()
    shutil.rmtree(staging, ignore_errors=True)


def recover(folder: str | Path) -> list[str]:
    """Finish or clear what killed runs left in an output folder.

    A staging folder whose run is gone (its lock is free) is finished when its commit had
    begun (``COMMIT.json`` written: the remaining files are moved into place) and removed
    otherwise. Staging folders of runs still going are left alone.

    Parameters
    ----------
    folder
        An output folder.

    Returns
    -------
    list of str
        What was done, one line per staging folder (``"finished <name>"`` or
        ``"removed <name>"``).
    """
    folder = Path(folder)
    done: list[str] = []
    if not folder.is_dir():
        return done
    for staging in sorted(folder.glob(f"{STAGING_PREFIX}*")):
        if not staging.is_dir():
            continue
        with _locked(staging, blocking=False) as free:
            if not free:
                continue  # a run in progress
            if (staging / _MARKER).exists():
                _roll_forward(folder, staging)
                done.append(f"finished {staging.name}")
            else:
                shutil.rmtree(staging, ignore_errors=True)
                done.append(f"removed {staging.name}")
    for line in done:
        log.warning("output folder %s: %s (left by an interrupted run)", folder, line)
    return done


def verify_outputs(folder: str | Path) -> list[str]:
    """Check an output folder against its ``run.json``.

    Parameters
    ----------
    folder
        An output folder.

    Returns
    -------
    list of str
        Problems: no ``run.json``, a listed file missing or changed since it was written.
        Empty when every file is the one its run wrote.
    """
    folder = Path(folder)
    recover(folder)
    record = runinfo.read_run_record(folder)
    if record is None:
        return [f"{folder}: no {runinfo.RUN_FILE}"]
    problems = []
    for name, entry in record.get("files", {}).items():
        digest = _entry_digest(folder / name)
        if digest is None:
            problems.append(f"{name}: missing")
        elif digest != entry.get("sha256"):
            problems.append(f"{name}: changed since run {entry.get('run_id')}")
    return problems


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back (main thread only) and deliver them afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[int(sig)] = signal.signal(sig, lambda s, _f: pending.append(s))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in pending:
            signal.raise_signal(number)


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class OutputSet:
    """One run's output files, written into a staging folder and committed together.

    Use :func:`output_set` rather than the class.

    Attributes
    ----------
    folder
        The output folder (final place of the files).
    path
        The staging folder: write every output here, under its final name.
    run_id
        The run's id (also in ``run.json`` and the ``files`` entries).
    timings
        Seconds per step, recorded in ``run.json`` (fill it while running).
    extra
        Further keys for ``run.json`` (settings, counts).
    status, exit_code
        Recorded in ``run.json``; ``"ok"``/0 unless set (e.g. a batch with failed areas).
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        command: str,
        study: Study | None = None,
        inputs: Iterable[str | Path] = (),
        names: Iterable[str] = (),
    ) -> None:
        self.folder = Path(folder)
        self.command = command
        self.study = study
        self.inputs: list[str | Path] = list(inputs)
        if study is not None:
            self.inputs += input_paths(study)
        self.names = list(names)
        self.run_id = uuid.uuid4().hex
        self.started = dt.datetime.now(dt.UTC)
        self.timings: dict[str, float] = {}
        self.extra: dict[str, Any] = {}
        self.status = "ok"
        self.exit_code = 0
        self.files: list[Path] = []
        self.path = self.folder / f"{STAGING_PREFIX}{command}-{self.run_id[:12]}"
        self._lock_fd: int | None = None
        self._created = False

    def final(self, path: str | Path) -> Path:
        """The final path of a staged file (``path`` may be a name or a staged path)."""
        p = Path(path)
        try:
            return self.folder / p.relative_to(self.path)
        except ValueError:
            return self.folder / p.name if not p.is_absolute() else p

    def open(self) -> OutputSet:
        """Check the folder, finish what killed runs left, refuse conflicts, start staging."""
        check_not_inputs([self.folder / n for n in self.names], self.inputs)
        self._created = not self.folder.exists()
        check_writable(self.folder)
        with _locked(self.folder):
            recover(self.folder)
            foreign = _foreign(self.folder, self.names, _read_record(self.folder))
            if foreign:
                self.discard()
                raise _foreign_error(self.folder, foreign)
            self.path.mkdir()
        if fcntl is not None:
            self._lock_fd = os.open(self.path, os.O_RDONLY)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        return self

    def discard(self) -> None:
        """Drop the staged files; the folder keeps its previous set.

        A commit that had begun (its marker written) is kept for :func:`recover` to finish.
        """
        if not (self.path / _MARKER).exists():
            shutil.rmtree(self.path, ignore_errors=True)
            if self._created:  # a failed run leaves no empty folder behind
                with contextlib.suppress(OSError):
                    self.folder.rmdir()
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def commit(self) -> list[Path]:
        """Move the staged files into place with ``run.json``; return their final paths."""
        staged = sorted(p.name for p in self.path.iterdir())
        check_not_inputs([self.folder / n for n in staged], self.inputs)
        with _locked(self.folder):
            recover(self.folder)
            before = _read_record(self.folder)
            foreign = _foreign(self.folder, staged, before)
            if foreign:
                raise _foreign_error(self.folder, foreign)
            files = dict(before.get("files", {}))
            # our unchanged outputs of the same command that this run no longer writes
            stale = {
                n: e["sha256"]
                for n, e in files.items()
                if e.get("command") == self.command
                and n not in staged
                and _owned(self.folder, before, n)
            }
            files = {n: e for n, e in files.items() if (self.folder / n).exists()}
            for name in stale:
                files.pop(name, None)
            for name in staged:
                files[name] = {
                    "sha256": _entry_digest(self.path / name),
                    "run_id": self.run_id,
                    "command": self.command,
                }
            record = runinfo.run_record(
                command=self.command,
                started=self.started,
                study=self.study,
                status=self.status,
                exit_code=self.exit_code,
                timings=self.timings,
                outputs=staged,
                extra=self.extra,
            )
            record["run_id"] = self.run_id
            record["files"] = files
            record["earlier_runs"] = _earlier_runs(before, files, self.run_id)
            runinfo.write_run_record(record, self.path)
            order = [*staged, runinfo.RUN_FILE]
            for name in order:
                _fsync(self.path / name)
            marker = self.path / f".{_MARKER}"
            marker.write_text(json.dumps({"order": order, "remove": stale}), encoding="utf-8")
            _fsync(marker)
            with _signals_held():
                os.replace(marker, self.path / _MARKER)  # from here on, recover() finishes
                _roll_forward(self.folder, self.path)
            _fsync(self.folder)
        self._unlock()
        self.files = [self.folder / n for n in staged]
        log.info("wrote %d files to %s (run %s)", len(staged), self.folder, self.run_id)
        return self.files

    def __enter__(self) -> OutputSet:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            try:
                self.commit()
            finally:
                if self.path.exists():
                    self.discard()
        else:
            self.discard()


def _earlier_runs(
    before: Mapping[str, Any], files: Mapping[str, Any], run_id: str
) -> list[dict[str, Any]]:
    """The records of the earlier runs that still own files of the folder."""
    owners = {e.get("run_id") for e in files.values()} - {run_id}
    runs = list(before.get("earlier_runs", []))
    if before.get("run_id"):
        runs.append({k: v for k, v in before.items() if k not in ("files", "earlier_runs")})
    return [r for r in runs if r.get("run_id") in owners]


def output_set(
    folder: str | Path,
    *,
    command: str,
    study: Study | None = None,
    inputs: Iterable[str | Path] = (),
    names: Iterable[str] = (),
) -> OutputSet:
    """Start an output set: ``with output_set(out, command="analyze", study=s) as o: ...``.

    Before anything is computed the folder is checked: created and writable
    (:func:`check_writable`), no expected output over an input (:func:`check_not_inputs`),
    no expected output over a file that is not this tool's unchanged output. Inside the
    ``with`` block write every file into ``o.path`` under its final name; on leaving it
    the files are committed together with ``run.json`` (see the module notes); on an
    exception they are discarded and the folder keeps its previous set.

    Parameters
    ----------
    folder
        The output folder (``--out``).
    command
        What runs (``analyze``, ``report``, ...): recorded in ``run.json``.
    study
        The study: its input files are protected and recorded.
    inputs
        Further files the command reads (protected too).
    names
        The file names the run will write, when known: checked before the work starts (the
        files actually staged are checked again at the commit).

    Returns
    -------
    OutputSet
        A context manager.

    Raises
    ------
    InputError
        An output would overwrite an input file or a file of the planner's (exit code 2).
    OutputError
        The folder cannot be written (exit code 1).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with output_set(out, command="example", names=["a.csv"]) as o:
    ...     _ = (o.path / "a.csv").write_text("x\\n1\\n")
    >>> sorted(p.name for p in out.iterdir())
    ['a.csv', 'run.json']
    >>> verify_outputs(out)
    []
    """
    return OutputSet(folder, command=command, study=study, inputs=inputs, names=names)
