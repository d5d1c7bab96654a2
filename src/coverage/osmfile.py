"""OpenStreetMap files: the supported suffixes (one table), opening a file, reading walk ways.

Every offline OSM read goes through :func:`open_osm_file` (pyosmium), whose format comes from
:data:`OSM_SUFFIXES`: the walk network's ways (:func:`read_walk_ways`) here, and the features
of :mod:`coverage.osmdata`. Online downloads come back as an unsimplified osmnx graph, turned
into the same way records by :func:`ways_from_osmnx_graph`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from coverage.errors import NetworkError, SourceFileError
from coverage.walkfilter import FILTER_TAGS, Tags, is_private, is_walkable

if TYPE_CHECKING:
    import networkx as nx
    import osmium
    import shapely

__all__ = [
    "OSM_SUFFIXES",
    "SUFFIX_TEXT",
    "WayCollector",
    "WayRecords",
    "is_osm_file_name",
    "open_osm_file",
    "osm_file_extent",
    "osm_format",
    "read_walk_ways",
    "ways_from_osmnx_graph",
]

logger = logging.getLogger("coverage.network")

#: Supported OSM file suffixes and the pyosmium format of each (the one table).
OSM_SUFFIXES: dict[str, str] = {
    ".osm": "osm",
    ".xml": "osm",
    ".osm.xml": "osm",
    ".osm.bz2": "osm.bz2",
    ".xml.bz2": "osm.bz2",
    ".osm.gz": "osm.gz",
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
}
#: How messages name the supported files.
SUFFIX_TEXT = ".osm, .osm.bz2, .osm.gz or .osm.pbf"


def osm_format(path: str | Path) -> str | None:
    """Return the pyosmium format of an OSM file from its suffix (None when unsupported).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str or None

    Examples
    --------
    >>> osm_format("city.osm.pbf"), osm_format("city.OSM.BZ2"), osm_format("city.shp")
    ('pbf', 'osm.bz2', None)
    """
    name = Path(path).name.lower()
    for suffix in sorted(OSM_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return OSM_SUFFIXES[suffix]
    return None


def is_osm_file_name(path: str | Path) -> bool:
    """Tell whether the file's suffix is a supported OSM one.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    bool
    """
    return osm_format(path) is not None


def open_osm_file(path: str | Path, entities: Any = None) -> osmium.FileProcessor:
    """Open an OSM file for reading with pyosmium, its format taken from the suffix.

    Parameters
    ----------
    path
        A file with a supported suffix (:data:`OSM_SUFFIXES`).
    entities
        The pyosmium entity bits to read (default: all).

    Returns
    -------
    osmium.FileProcessor
    """
    import osmium

    fmt = osm_format(path) or ""
    file = osmium.io.File(str(path), fmt)
    if entities is None:
        return osmium.FileProcessor(file)
    return osmium.FileProcessor(file, entities)


def osm_file_extent(path: str | Path) -> shapely.Polygon:
    """Return the area an OSM file's data covers: its header box, else its nodes' hull.

    An export's ``<bounds>`` (OSM XML) or header bounding box (PBF) says where the data is
    complete; a file without one covers the convex hull of its nodes.

    Parameters
    ----------
    path
        An OSM file with a supported suffix (:data:`OSM_SUFFIXES`).

    Returns
    -------
    shapely.Polygon
        In WGS-84 degrees (a hull of fewer than three distinct nodes is widened by a
        millionth of a degree, so it is still a polygon).

    Raises
    ------
    SourceFileError
        The file has an unsupported suffix, cannot be read, or holds no node.
    """
    import osmium
    import shapely

    p = Path(path)
    fmt = osm_format(p)
    if fmt is None or not p.is_file():
        raise SourceFileError(
            f"找不到或不支持的 OSM 文件 (OSM file not found or unsupported): {p}; "
            f"expected {SUFFIX_TEXT}"
        )
    try:
        with osmium.io.Reader(osmium.io.File(str(p), fmt), osmium.osm.NOTHING) as reader:
            box = reader.header().box()
        if box.valid():
            bl, tr = box.bottom_left, box.top_right
            return shapely.box(bl.lon, bl.lat, tr.lon, tr.lat)
        coords = [
            (n.location.lon, n.location.lat)
            for n in open_osm_file(p, osmium.osm.NODE)
            if isinstance(n, osmium.osm.Node) and n.location.valid()
        ]
    except Exception as exc:  # pyosmium raises RuntimeError for unreadable/corrupt files
        raise SourceFileError(f"无法读取 OSM 文件 (cannot read OSM file) {p}: {exc}") from exc
    if not coords:
        raise SourceFileError(f"OSM 文件中没有节点 (the OSM file holds no node): {p}")
    hull = shapely.convex_hull(shapely.multipoints(np.asarray(coords, dtype="float64")))
    if not isinstance(hull, shapely.Polygon):
        hull = shapely.convex_hull(hull.buffer(1e-6))
    logger.info("%s has no bounds in its header: its data area is the hull of its nodes", p)
    return hull


IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class WayRecords:
    """Walkable ways as flat arrays (a CSR layout: way ``i`` is ``offsets[i]:offsets[i+1]``)."""

    way_id: IntArray  # (W,)
    offsets: IntArray  # (W + 1,)
    node_id: IntArray  # (N,) OSM node ids in way order
    lon: FloatArray  # (N,)
    lat: FloatArray  # (N,)
    highway: npt.NDArray[np.object_]  # (W,)
    access: npt.NDArray[np.object_]  # (W,) str or None
    private: npt.NDArray[np.bool_]  # (W,)


class WayCollector:
    """Accumulates way records in Python lists, then freezes them into :class:`WayRecords`."""

    def __init__(self) -> None:
        self.way_id: list[int] = []
        self.lengths: list[int] = []
        self.node_id: list[int] = []
        self.lon: list[float] = []
        self.lat: list[float] = []
        self.highway: list[str] = []
        self.access: list[str | None] = []
        self.private: list[bool] = []

    def add(
        self,
        way_id: int,
        tags: Tags | Mapping[str, str],
        node_ids: list[int],
        lons: list[float],
        lats: list[float],
    ) -> None:
        if len(node_ids) < 2:
            return
        self.way_id.append(way_id)
        self.lengths.append(len(node_ids))
        self.node_id.extend(node_ids)
        self.lon.extend(lons)
        self.lat.extend(lats)
        self.highway.append(str(tags.get("highway")))
        access = tags.get("access")
        self.access.append(None if access is None else str(access))
        self.private.append(is_private(tags))

    def freeze(self) -> WayRecords:
        offsets = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(np.asarray(self.lengths, dtype=np.int64), out=offsets[1:])
        return WayRecords(
            way_id=np.asarray(self.way_id, dtype=np.int64),
            offsets=offsets,
            node_id=np.asarray(self.node_id, dtype=np.int64),
            lon=np.asarray(self.lon, dtype=np.float64),
            lat=np.asarray(self.lat, dtype=np.float64),
            highway=np.asarray(self.highway, dtype=object),
            access=np.asarray(self.access, dtype=object),
            private=np.asarray(self.private, dtype=bool),
        )


def read_walk_ways(path: Path) -> WayRecords:
    """Read the walkable ways of an OSM file with pyosmium.

    A way whose nodes are partly missing from the file (a clipped extract) is kept as the
    runs of consecutive nodes that have coordinates.
    """
    import osmium

    if osm_format(path) is None:
        raise SourceFileError(
            f"不支持的 OSM 文件类型 (unsupported OSM file type): {path}; expected {SUFFIX_TEXT}"
        )
    if not path.is_file():
        raise SourceFileError(f"找不到 OSM 文件 (OSM file not found): {path}")
    out = WayCollector()
    clipped = 0
    try:
        processor = (
            open_osm_file(path)
            .with_locations()
            .with_filter(osmium.filter.KeyFilter("highway"))
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        )
        for way in processor:
            if not isinstance(way, osmium.osm.Way):  # pragma: no cover - filtered above
                continue
            tags = way.tags
            if not is_walkable(tags):
                continue
            ids: list[int] = []
            lons: list[float] = []
            lats: list[float] = []
            for nd in way.nodes:
                loc = nd.location
                if loc.valid():
                    ids.append(nd.ref)
                    lons.append(loc.lon)
                    lats.append(loc.lat)
                else:  # split the way at the missing node
                    clipped += 1
                    out.add(way.id, tags, ids, lons, lats)
                    ids, lons, lats = [], [], []
            out.add(way.id, tags, ids, lons, lats)
    except NetworkError:
        raise
    except Exception as exc:  # pyosmium raises RuntimeError for unreadable/corrupt files
        raise SourceFileError(
            f"无法读取 OSM 文件 (cannot read OSM file) {path}: {exc}; "
            "请检查文件是否完整或重新导出 (check the file is complete, or export it again)"
        ) from exc
    if clipped:
        logger.info(
            "%s: %d way node(s) without coordinates skipped (clipped extract)", path, clipped
        )
    ways = out.freeze()
    if len(ways.way_id) == 0:
        raise SourceFileError(
            f"OSM 文件中没有可步行的道路 (no walkable ways in OSM file): {path}; "
            "请确认导出范围包含道路 (check that the export covers streets)"
        )
    return ways


def ways_from_osmnx_graph(graph: nx.MultiDiGraph) -> WayRecords:
    """Turn an unsimplified osmnx graph back into way records.

    Each edge of an unsimplified osmnx graph is one segment of one OSM way (``osmid``);
    the forward segments (``reversed`` False) of a way are chained back into trails. A way
    cut by the query polygon becomes several trails; the builder only depends on the set of
    segments, so the result equals reading the same ways from a file.
    """
    segments: dict[int, list[tuple[int, int]]] = defaultdict(list)
    tags_of: dict[int, dict[str, str]] = {}
    for u, v, data in graph.edges(data=True):
        if data.get("reversed", False):
            continue
        osmid = data["osmid"]
        way_id = int(osmid[0] if isinstance(osmid, list) else osmid)
        segments[way_id].append((u, v))
        if way_id not in tags_of:
            tags_of[way_id] = {k: str(data[k]) for k in FILTER_TAGS if data.get(k) is not None}
    xs = dict(graph.nodes(data="x"))
    ys = dict(graph.nodes(data="y"))
    out = WayCollector()
    for way_id in sorted(segments):
        tags = tags_of[way_id]
        if not is_walkable(tags):
            continue
        for trail in _trails(segments[way_id]):
            out.add(
                way_id,
                tags,
                [int(n) for n in trail],
                [float(xs[n]) for n in trail],
                [float(ys[n]) for n in trail],
            )
    return out.freeze()


def _trails(segments: list[tuple[int, int]]) -> list[list[int]]:
    """Chain directed segments into trails that use every segment once.

    Trails start at nodes with more outgoing than incoming segments; what is left then
    are closed trails (rings), started anywhere (the builder does not depend on where).
    """
    succ: dict[int, list[int]] = defaultdict(list)
    balance: dict[int, int] = defaultdict(int)
    for a, b in reversed(segments):  # pop() then takes them in the given order
        succ[a].append(b)
        balance[a] += 1
        balance[b] -= 1

    def walk(start: int) -> list[int]:
        trail = [start]
        node = start
        while succ[node]:
            node = succ[node].pop()
            trail.append(node)
        return trail

    trails = []
    for a, _ in segments:
        while balance[a] > 0 and succ[a]:
            trail = walk(a)
            balance[a] -= 1
            balance[trail[-1]] += 1
            trails.append(trail)
    for a, _ in segments:
        while succ[a]:
            trails.append(walk(a))
    return trails
