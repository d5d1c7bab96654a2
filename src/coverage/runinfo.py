"""What a run was made from: the record every output set carries as ``run.json``.

A planner handing a table to leadership must be able to say which files, which settings and
which version produced it. :func:`input_files` lists a study's input files with their size,
modification time and SHA-256; :func:`run_record` assembles the record (run id, times,
package and library versions, the inputs, timings, exit status); :func:`write_run_record`
writes it atomically as ``run.json`` into an output folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import uuid
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from coverage._atomic import atomic_path
from coverage.config import Study

__all__ = [
    "RUN_FILE",
    "RUN_RECORD_VERSION",
    "file_digest",
    "input_files",
    "input_paths",
    "input_roles",
    "library_versions",
    "read_run_record",
    "run_record",
    "write_run_record",
]

#: Name of the run record in an output folder.
RUN_FILE = "run.json"
#: Format version of the run record (bump when a key changes meaning).
RUN_RECORD_VERSION = 1
#: Distributions whose versions the record names (those that shape the numbers).
LIBRARIES = (
    "coverage-planner",
    "numpy",
    "scipy",
    "pandas",
    "geopandas",
    "shapely",
    "pyproj",
    "pyogrio",
    "osmnx",
    "networkx",
    "highspy",
    "folium",
)
_CHUNK = 1 << 20


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as hex.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        64 hexadecimal characters.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = p.write_bytes(b"abc")
    >>> file_digest(p)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(role: str, path: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": role, "path": str(path)}
    try:
        stat = path.stat()
    except OSError:
        entry["missing"] = True
        return entry
    entry["size_bytes"] = stat.st_size
    entry["modified"] = dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC).isoformat(
        timespec="seconds"
    )
    entry["sha256"] = file_digest(path) if path.is_file() else None
    return entry


def _layer_paths(path: Path) -> list[Path]:
    """The file and, for a Shapefile, its sidecar files (.dbf, .shx, .prj, .cpg)."""
    if path.suffix.lower() != ".shp":
        return [path]
    sidecars = [path.with_suffix(ext) for ext in (".dbf", ".shx", ".prj", ".cpg")]
    return [path, *(p for p in sidecars if p.exists())]


def input_roles(study: Study) -> list[tuple[str, Path]]:
    """The study's input files with their role, without reading them.

    Parameters
    ----------
    study
        A loaded study.

    Returns
    -------
    list of (str, Path)
        ``(role, path)`` pairs, roles as in :func:`input_files`; no duplicates.
    """
    roles: list[tuple[str, Path]] = []
    if study.path is not None:
        roles.append(("study", Path(study.path)))
    if study.compounds is not None:
        roles += [("compounds", p) for p in _layer_paths(Path(study.compounds.path))]
    for key, service in study.services.items():
        roles += [(f"stations:{key}", p) for p in _layer_paths(Path(service.stations.path))]
    if study.candidates is not None:
        roles += [("candidates", p) for p in _layer_paths(Path(study.candidates.path))]
    if study.network.osm_file is not None:
        roles.append(("network", Path(study.network.osm_file)))
    if study.network.polygon is not None:
        roles.append(("network_polygon", Path(study.network.polygon)))
    return list(dict.fromkeys(roles))


def input_paths(study: Study) -> list[Path]:
    """The paths of the study's input files (see :func:`input_roles`)."""
    return list(dict.fromkeys(path for _, path in input_roles(study)))


def input_files(study: Study) -> list[dict[str, Any]]:
    """The study's input files with size, modification time (UTC) and SHA-256.

    Parameters
    ----------
    study
        A loaded study.

    Returns
    -------
    list of dict
        One entry per file: ``role`` (``study``, ``compounds``, ``candidates``,
        ``stations:<service>``, ``network``, ``network_polygon``), ``path``, ``size_bytes``,
        ``modified``, ``sha256`` (``missing: true`` instead when the file is gone).
    """
    return [_describe(role, path) for role, path in input_roles(study)]


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that shape the numbers (``None`` when absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def run_record(
    *,
    command: str,
    started: dt.datetime,
    finished: dt.datetime | None = None,
    study: Study | None = None,
    status: str = "ok",
    exit_code: int = 0,
    timings: Mapping[str, float] | None = None,
    outputs: Sequence[str | Path] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the record of one run.

    Parameters
    ----------
    command
        What ran (``analyze``, ``report``, ...).
    started, finished
        When the run started and ended (timezone-aware; ``finished`` defaults to now).
    study
        The study, when the run had one: its name, note and input files are recorded.
    status, exit_code
        ``"ok"`` / 0 for a complete run; otherwise what went wrong and the exit code.
    timings
        Seconds per step.
    outputs
        The files of the output set (names relative to its folder).
    extra
        Further keys (settings, counts) merged into the record.

    Returns
    -------
    dict
        JSON-ready: ``run_id``, ``record_version``, ``command``, ``started``, ``finished``,
        ``seconds``, ``status``, ``exit_code``, ``versions``, ``study``, ``inputs``,
        ``timings``, ``outputs`` and the ``extra`` keys.
    """
    finished = finished or dt.datetime.now(dt.UTC)
    record: dict[str, Any] = {
        "run_id": uuid.uuid4().hex,
        "record_version": RUN_RECORD_VERSION,
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "seconds": round((finished - started).total_seconds(), 3),
        "status": status,
        "exit_code": exit_code,
        "versions": library_versions(),
    }
    if study is not None:
        record["study"] = {"name": study.name, "note": study.note, "data_date": study.data_date}
        record["inputs"] = input_files(study)
    record["timings"] = {k: round(float(v), 3) for k, v in (timings or {}).items()}
    record["outputs"] = [str(p) for p in outputs]
    if extra:
        record.update(extra)
    return record


def write_run_record(record: Mapping[str, Any], folder: str | Path) -> Path:
    """Write ``record`` as ``run.json`` into ``folder``, atomically.

    Parameters
    ----------
    record
        From :func:`run_record`.
    folder
        The output folder.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(folder) / RUN_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def read_run_record(folder: str | Path) -> dict[str, Any] | None:
    """The ``run.json`` of an output folder, or ``None`` when it has none (or it is unreadable)."""
    path = Path(folder) / RUN_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
