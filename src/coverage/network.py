"""The walk network: building it from OpenStreetMap, caching it, loading it.

This module is the entry point (every public name of the network modules is importable from
here); the work is split along its seams:

==========================  ===============================================================
:mod:`coverage.walkfilter`  the walk filter (:data:`WALK_HIGHWAYS`, :func:`is_walkable`)
:mod:`coverage.osmfile`     OSM files: the suffix table, opening a file with pyosmium, the
                            readers of walkable **way records** (a file, an osmnx graph)
:mod:`coverage.netbuild`    the one pure, vectorised builder (way records -> network)
:mod:`coverage.netcache`    cache key, saving and reading a network folder
:mod:`coverage.walknetwork` the :class:`WalkNetwork` object and its derived arrays
==========================  ===============================================================

Every source goes through the same two steps: a reader turns OSM data into way records
(offline files with pyosmium; online sources downloaded by osmnx with ``simplify=False`` and
turned back into way records), then the builder splits the ways at graph nodes, measures
geodesic lengths, labels connected components and returns a :class:`WalkNetwork`. The
Overpass filter sent by osmnx (:func:`overpass_walk_filter`) selects a superset of the walk
network, and the same predicate is applied to what comes back, so online and offline
networks agree.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely

from coverage._osmnx import osmnx_settings
from coverage.config import NetworkSource
from coverage.dataedge import enlarge_area, extent_meta
from coverage.errors import CoverageWarning, NetworkError
from coverage.netbuild import (
    EDGE_COLUMNS,
    FORMAT_VERSION,
    MIN_EDGE_LENGTH_M,
    NODE_COLUMNS,
    build_network,
    network_summary,
)
from coverage.netcache import (
    network_cache_key,
    read_network,
    read_polygon_file,
    save_network,
    write_network_tables,
)
from coverage.osmfile import osm_file_extent, read_walk_ways, ways_from_osmnx_graph
from coverage.walkfilter import (
    ACCESS_FORBIDDEN,
    FOOT_ALLOWED,
    FOOT_FORBIDDEN,
    OSMNX_WAY_TAGS,
    PRIVATE_VALUES,
    WALK_HIGHWAYS,
    is_private,
    is_walkable,
    overpass_walk_filter,
)
from coverage.walknetwork import WalkNetwork

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "ACCESS_FORBIDDEN",
    "EDGE_COLUMNS",
    "FOOT_ALLOWED",
    "FOOT_FORBIDDEN",
    "FORMAT_VERSION",
    "MIN_EDGE_LENGTH_M",
    "NODE_COLUMNS",
    "PRIVATE_VALUES",
    "WALK_HIGHWAYS",
    "WalkNetwork",
    "is_private",
    "is_walkable",
    "load_network",
    "network_cache_key",
    "network_from_bbox",
    "network_from_file",
    "network_from_place",
    "network_from_polygon",
    "network_from_source",
    "network_summary",
    "overpass_walk_filter",
    "read_network",
    "save_network",
    "write_network_tables",
]

logger = logging.getLogger(__name__)


def network_from_file(path: str | os.PathLike[str], *, retain_all: bool = True) -> WalkNetwork:
    """Build the walk network from an OSM file, offline.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.bz2``, ``.osm.gz`` or ``.osm.pbf`` file.
    retain_all
        Keep every connected component (default); False keeps only the largest.

    Returns
    -------
    WalkNetwork
        The network; ``meta["source"]`` names the file, ``meta["data_extent"]`` the area its
        data covers (the file's bounds, else the hull of its nodes: see
        :mod:`coverage.dataedge`).

    Raises
    ------
    NetworkError
        The file is missing, unreadable or of an unsupported type, or holds no walkable way.
    """
    p = Path(path)
    net = build_network(read_walk_ways(p), source=f"file {p}", retain_all=retain_all)
    return net.with_meta({**net.meta, **extent_meta(osm_file_extent(p))})


def _download(
    what: str,
    fetch: Callable[[Any, dict[str, Any]], tuple[nx.MultiDiGraph, shapely.Geometry]],
    *,
    retain_all: bool,
    http_cache_dir: str | os.PathLike[str] | None,
) -> WalkNetwork:
    """Download through osmnx; ``fetch`` returns the graph and the area it asked for."""
    import requests

    options = {
        "network_type": "walk",
        "custom_filter": overpass_walk_filter(),
        "simplify": False,
        "retain_all": True,
    }
    with osmnx_settings(
        http_cache_dir=http_cache_dir, way_tags=OSMNX_WAY_TAGS, bidirectional=("walk",)
    ) as ox:
        try:
            graph, area = fetch(ox, options)
        except requests.RequestException as exc:
            raise NetworkError(f"下载路网失败 (network download failed) for {what}: {exc}") from exc
        except (ValueError, TypeError) as exc:  # osmnx's errors derive from ValueError
            raise NetworkError(
                f"无法获取路网 (could not get the network) for {what}: {exc}"
            ) from exc
    ways = ways_from_osmnx_graph(graph)
    if len(ways.way_id) == 0:
        raise NetworkError(f"该范围内没有可步行的道路 (no walkable ways) in {what}")
    net = build_network(ways, source=what, retain_all=retain_all)
    return net.with_meta({**net.meta, **extent_meta(area)})


def network_from_place(
    place: str,
    *,
    retain_all: bool = True,
    http_cache_dir: str | os.PathLike[str] | None = None,
    margin_m: float = 0.0,
) -> WalkNetwork:
    """Download the walk network of a named place (geocoded by Nominatim through osmnx).

    Parameters
    ----------
    place
        A place name, e.g. ``"贵池区, 池州市, 安徽省"``; it must geocode to a polygon.
    retain_all
        Keep every connected component (default); False keeps only the largest.
    http_cache_dir
        Folder for osmnx's HTTP response cache (default: osmnx's own, ``./cache``); online
        sources only.
    margin_m
        Download the place's polygon enlarged by this many metres (a study's walk reach,
        :func:`coverage.dataedge.walk_reach_m`), so that stations and paths just outside
        the place count.

    Returns
    -------
    WalkNetwork
        The network of the place's polygon (enlarged by ``margin_m``; ``meta["data_extent"]``).

    Raises
    ------
    NetworkError
        Geocoding failed, the download failed or the place has no walkable ways.
    """
    if not isinstance(place, str) or not place.strip():
        raise NetworkError(f"地名为空 (empty place name): {place!r}")

    def fetch(ox: Any, opts: dict[str, Any]) -> tuple[nx.MultiDiGraph, shapely.Geometry]:
        # what osmnx's graph_from_place does, with the polygon enlarged in between
        area = enlarge_area(ox.geocode_to_gdf(place).union_all(), margin_m)
        return ox.graph_from_polygon(area, **opts), area

    return _download(
        f"place {place!r}", fetch, retain_all=retain_all, http_cache_dir=http_cache_dir
    )


def network_from_polygon(
    polygon: shapely.Polygon | shapely.MultiPolygon,
    *,
    retain_all: bool = True,
    http_cache_dir: str | os.PathLike[str] | None = None,
    margin_m: float = 0.0,
) -> WalkNetwork:
    """Download the walk network inside a polygon.

    Parameters
    ----------
    polygon
        A shapely Polygon or MultiPolygon in WGS-84 (lon/lat degrees).
    retain_all
        Keep every connected component (default); False keeps only the largest.
    http_cache_dir
        Folder for osmnx's HTTP response cache (default: osmnx's own, ``./cache``); online
        sources only.

    margin_m
        Download the polygon enlarged by this many metres (see :func:`network_from_place`).

    Returns
    -------
    WalkNetwork
        The network inside the (enlarged) polygon, ways cut at its boundary.

    Raises
    ------
    NetworkError
        The polygon is not a valid WGS-84 (Multi)Polygon, or the download failed.
    """
    if not isinstance(polygon, shapely.Polygon | shapely.MultiPolygon) or polygon.is_empty:
        raise NetworkError(
            "需要 WGS-84 面 (expected a shapely Polygon/MultiPolygon in WGS-84), "
            f"got {type(polygon).__name__}"
        )
    w, s, e, n = polygon.bounds
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise NetworkError(
            "面的坐标不是经纬度 (polygon coordinates are not lon/lat degrees): "
            f"bounds {polygon.bounds}"
        )
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
    area = enlarge_area(polygon, margin_m)
    return _download(
        f"polygon {shapely.to_wkt(polygon, rounding_precision=6)[:120]}",
        lambda ox, opts: (ox.graph_from_polygon(area, **opts), area),
        retain_all=retain_all,
        http_cache_dir=http_cache_dir,
    )


def network_from_bbox(
    bbox: tuple[float, float, float, float],
    *,
    retain_all: bool = True,
    http_cache_dir: str | os.PathLike[str] | None = None,
    margin_m: float = 0.0,
) -> WalkNetwork:
    """Download the walk network inside a bounding box.

    Parameters
    ----------
    bbox
        ``(west, south, east, north)`` in WGS-84 degrees.
    retain_all
        Keep every connected component (default); False keeps only the largest.
    http_cache_dir
        Folder for osmnx's HTTP response cache (default: osmnx's own, ``./cache``); online
        sources only.

    margin_m
        Download the box enlarged by this many metres (see :func:`network_from_place`).

    Returns
    -------
    WalkNetwork
        The network inside the (enlarged) box.

    Raises
    ------
    NetworkError
        The box is malformed, or the download failed.
    """
    try:
        west, south, east, north = (float(x) for x in bbox)
    except (TypeError, ValueError) as exc:
        raise NetworkError(
            f"范围格式错误 (expected bbox (west, south, east, north)), got {bbox!r}"
        ) from exc
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise NetworkError(
            f"范围无效 (invalid bbox: need west < east, south < north in degrees): {bbox!r}"
        )
    box = (west, south, east, north)
    what = "bbox " + ",".join(f"{x:g}" for x in box)
    if margin_m > 0:
        area = enlarge_area(shapely.box(*box), margin_m)
        return _download(
            what,
            lambda ox, opts: (ox.graph_from_polygon(area, **opts), area),
            retain_all=retain_all,
            http_cache_dir=http_cache_dir,
        )
    return _download(
        what,
        lambda ox, opts: (ox.graph_from_bbox(box, **opts), shapely.box(*box)),
        retain_all=retain_all,
        http_cache_dir=http_cache_dir,
    )


def network_from_source(
    source: NetworkSource,
    *,
    retain_all: bool = True,
    http_cache_dir: str | os.PathLike[str] | None = None,
    margin_m: float = 0.0,
) -> WalkNetwork:
    """Build the walk network a study's ``[network]`` section describes (no cache).

    Parameters
    ----------
    source
        Exactly one of place, bbox, polygon (file) or osm_file set.
    retain_all
        Keep every connected component (default); False keeps only the largest.
    http_cache_dir
        Folder for osmnx's HTTP response cache (default: osmnx's own, ``./cache``); online
        sources only.
    margin_m
        Online sources: download the area enlarged by this many metres (a file is what it
        is: its own extent is recorded instead).

    Returns
    -------
    WalkNetwork
        The network.

    Raises
    ------
    NetworkError
        The source is empty or the network could not be built.
    CRSError
        The polygon file has no coordinate reference system.
    """
    if source.osm_file is not None:
        return network_from_file(source.osm_file, retain_all=retain_all)
    cache = http_cache_dir
    if source.place is not None:
        return network_from_place(
            source.place, retain_all=retain_all, http_cache_dir=cache, margin_m=margin_m
        )
    if source.bbox is not None:
        return network_from_bbox(
            source.bbox, retain_all=retain_all, http_cache_dir=cache, margin_m=margin_m
        )
    if source.polygon is not None:
        area = read_polygon_file(source.polygon)
        return network_from_polygon(
            area, retain_all=retain_all, http_cache_dir=cache, margin_m=margin_m
        )
    raise NetworkError("未指定路网来源 (no network source given: place, bbox, polygon or osm_file)")


def load_network(
    source: NetworkSource,
    *,
    cache_dir: str | os.PathLike[str],
    refresh: bool = False,
    margin_m: float = 0.0,
) -> WalkNetwork:
    """Build the walk network of a source, or load it from the cache.

    The cache folder is ``cache_dir / "network-<key>"`` (see :func:`network_cache_key`):
    GeoParquet tables and a ``manifest.json``, written atomically. A corrupt or partial
    cache is rebuilt with a :class:`~coverage.errors.CoverageWarning`.

    Parameters
    ----------
    source
        Where the network comes from.
    cache_dir
        Folder holding cached networks (e.g. ``data/processed``); created when missing.
    refresh
        Rebuild (and re-download) even when a cached network exists.
    margin_m
        Online sources: download the area enlarged by this many metres (part of the key).

    Returns
    -------
    WalkNetwork
        The network; ``meta["from_cache"]`` tells whether it came from the cache and
        ``meta["cache_key"]`` holds the key.

    Raises
    ------
    NetworkError
        The network could not be built.
    """
    key = network_cache_key(source, margin_m=margin_m)
    folder = Path(cache_dir) / f"network-{key[:24]}"
    if folder.exists() and not refresh:
        t0 = time.perf_counter()
        try:
            net = read_network(folder)
            if net.meta.get("cache_key") != key:
                raise NetworkError(f"缓存键不符 (cache key mismatch) in {folder}")
        except NetworkError as exc:
            warnings.warn(
                f"路网缓存已损坏，将重新构建 (network cache is corrupt, rebuilding it): {exc}",
                CoverageWarning,
                stacklevel=2,
            )
        else:
            meta = {**net.meta, "from_cache": True}
            logger.info(
                "network loaded from cache %s in %.2f s (%s)",
                folder,
                time.perf_counter() - t0,
                source.describe(),
            )
            return net.with_meta(meta)
    net = network_from_source(
        source, http_cache_dir=Path(cache_dir) / "osmnx-http", margin_m=margin_m
    )
    net = net.with_meta({**net.meta, "cache_key": key, "from_cache": False})
    try:
        save_network(net, folder)
    except OSError as exc:
        if not folder.exists():  # another process may have written the same network
            warnings.warn(
                f"无法写入路网缓存 (cannot write the network cache) {folder}: {exc}",
                CoverageWarning,
                stacklevel=2,
            )
    else:
        logger.info("network cached in %s", folder)
    return net
