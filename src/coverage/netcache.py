"""The network cache: a cache key per source, saving and reading a network folder.

A cached network is a folder ``network-<key>`` holding ``nodes.parquet``, ``edges.parquet``
(GeoParquet, native GeoArrow lines) and ``manifest.json``, written atomically.
:func:`coverage.network.load_network` decides when to build and when to read.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage._atomic import atomic_dir, atomic_path
from coverage.config import NetworkSource
from coverage.errors import CRSError, NetworkError, Problem, SourceFileError
from coverage.netarrays import EdgeIndex, GraphLayout
from coverage.netbuild import (
    EDGE_COLUMNS,
    FORMAT_VERSION,
    NODE_COLUMNS,
    normalise_edge_table,
    normalise_nodes,
)
from coverage.walkfilter import FILTER_SPEC
from coverage.walknetwork import WalkNetwork

T = TypeVar("T")

EDGE_INDEX_FILE = "edge_index.pickle"
"""The cached :class:`~coverage.netarrays.EdgeIndex` in a network folder."""

LAYOUT_FILE = "layout.pickle"
"""The cached :class:`~coverage.netarrays.GraphLayout` in a network folder (optional: a
folder without it builds the layout on first use)."""

__all__ = [
    "EDGE_INDEX_FILE",
    "LAYOUT_FILE",
    "network_cache_key",
    "read_network",
    "read_polygon_file",
    "save_network",
    "write_network_tables",
]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise SourceFileError(f"无法读取文件 (cannot read file) {path}: {exc}") from exc
    return digest.hexdigest()


def _normalise_place(place: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", place).split()).casefold()


def network_cache_key(source: NetworkSource, *, margin_m: float = 0.0) -> str:
    """Return the cache key of a network source.

    The key is the SHA-256 of the source (for files: of their content; for places, boxes
    and polygons: of the normalised query and the margin the download is enlarged by), the
    walk filter and :data:`FORMAT_VERSION`.

    Parameters
    ----------
    source
        The network source.
    margin_m
        Metres an online download is enlarged by (ignored for files).

    Returns
    -------
    str
        64 hexadecimal characters.

    Raises
    ------
    NetworkError
        The source's file cannot be read.
    """
    desc: dict[str, Any]
    if source.osm_file is not None:
        if not Path(source.osm_file).is_file():
            raise SourceFileError(f"找不到 OSM 文件 (OSM file not found): {source.osm_file}")
        desc = {"osm_file_sha256": _file_sha256(Path(source.osm_file))}
    elif source.place is not None:
        desc = {"place": _normalise_place(source.place)}
    elif source.bbox is not None:
        desc = {"bbox": [round(float(x), 7) for x in source.bbox]}
    elif source.polygon is not None:
        geom = shapely.set_precision(read_polygon_file(Path(source.polygon)), 1e-7)
        desc = {"polygon_wkb_sha256": hashlib.sha256(shapely.to_wkb(geom.normalize())).hexdigest()}
    else:
        raise NetworkError("未指定路网来源 (no network source given)")
    if source.osm_file is None and margin_m > 0:
        desc["margin_m"] = round(float(margin_m), 1)
    payload = {"source": desc, "filter": FILTER_SPEC, "format_version": FORMAT_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def save_network(net: WalkNetwork, folder: str | os.PathLike[str]) -> Path:
    """Save a network to a folder (``nodes.parquet``, ``edges.parquet``, ``manifest.json``).

    The folder is written under a temporary name next to it, then renamed, so readers never
    see a half-written network. An existing folder is replaced.

    Parameters
    ----------
    net
        The network.
    folder
        The folder to create.

    Returns
    -------
    Path
        The folder.
    """
    target = Path(folder)
    meta = {k: v for k, v in net.meta.items() if k != "from_cache"}
    manifest = {
        "format_version": FORMAT_VERSION,
        "crs": net.crs,
        "nodes": len(net.nodes),
        "edges": len(net.edges),
        "meta": meta,
    }
    with atomic_dir(target) as tmp:
        net.nodes.to_parquet(tmp / "nodes.parquet", index=False)
        # GeoParquet 1.1 native (GeoArrow) line encoding: reads back ~5x faster than WKB
        net.edges.to_parquet(tmp / "edges.parquet", index=False, geometry_encoding="geoarrow")
        # the edge index (metric segments and KD-tree): reading it back is ~10x faster than
        # building it, and the analysis needs nothing else of the edges' geometry; with its
        # edge grid and STRtree order (the access rules' queries), a few seconds on a city
        net.edge_index.edge_grid  # noqa: B018 (built, so that it is pickled with the index)
        with (tmp / EDGE_INDEX_FILE).open("wb") as fh:
            pickle.dump(net.edge_index, fh, protocol=pickle.HIGHEST_PROTOCOL)
        # the node order and CSR structure of the travel graphs: about a second to build on
        # a million edges, a tenth of that to read
        with (tmp / LAYOUT_FILE).open("wb") as fh:
            pickle.dump(net.layout, fh, protocol=pickle.HIGHEST_PROTOCOL)
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
        )
    return target


def _read_edges_parquet(path: Path) -> tuple[pd.DataFrame, Callable[[], np.ndarray]]:
    """Read our own edges GeoParquet (EPSG:4326): the attributes, and a geometry maker.

    The cache stores lines in GeoParquet's native ``linestring`` (GeoArrow) encoding, rebuilt
    with :func:`shapely.from_ragged_array` when first asked for; WKB (what other tools write)
    is read too. Faster than ``geopandas.read_parquet``, which parses the stored PROJJSON CRS
    each time and makes every LineString at once.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    # the open file stays readable for ``make`` even if the folder is replaced meanwhile
    source = pq.ParquetFile(path)
    schema = source.schema_arrow
    geo = json.loads((schema.metadata or {}).get(b"geo", b"{}"))
    encoding = geo.get("columns", {}).get("geometry", {}).get("encoding", "").lower()
    if encoding not in ("linestring", "wkb") or "geometry" not in schema.names:
        raise NetworkError(
            f"边表的几何编码无法识别 (edges geometry encoding {encoding!r} not supported): {path}"
        )
    # the geometry column is read only when the lines are asked for (the analysis never does)
    attributes = [name for name in schema.names if name != "geometry"]
    table = source.read(columns=attributes)

    def make() -> np.ndarray:
        column = source.read(columns=["geometry"]).column("geometry").combine_chunks()
        if encoding == "wkb":
            return np.asarray(shapely.from_wkb(column.to_numpy(zero_copy_only=False)))
        points = pc.list_flatten(column)
        coords = np.column_stack(
            [
                points.field("x").to_numpy(zero_copy_only=False),
                points.field("y").to_numpy(zero_copy_only=False),
            ]
        )
        offsets = np.asarray(column.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        return np.asarray(
            shapely.from_ragged_array(shapely.GeometryType.LINESTRING, coords, (offsets,))
        )

    return table.to_pandas(), make


def _read_pickled(file: Path, kind: type[T], what: str) -> T | None:
    """An object of type ``kind`` pickled in our own cache folder (None when not there)."""
    if not file.is_file():
        return None
    with file.open("rb") as fh:
        obj = pickle.load(fh)  # our own cache folder, written by save_network
    if not isinstance(obj, kind):
        raise NetworkError(f"{what}: {file}")
    return obj


def _read_edge_index(path: Path) -> EdgeIndex | None:
    """The cached edge index (None when the folder has none)."""
    return _read_pickled(
        path / EDGE_INDEX_FILE, EdgeIndex, "边索引文件无效 (invalid edge index file)"
    )


def _read_layout(path: Path) -> GraphLayout | None:
    """The cached graph layout (None when the folder has none)."""
    return _read_pickled(
        path / LAYOUT_FILE, GraphLayout, "图结构文件无效 (invalid graph layout file)"
    )


def read_network(folder: str | os.PathLike[str]) -> WalkNetwork:
    """Read a network saved by :func:`save_network`.

    Parameters
    ----------
    folder
        The folder.

    Returns
    -------
    WalkNetwork
        The network, with the meta data it was saved with (and ``from_cache`` True).

    Raises
    ------
    NetworkError
        The folder is missing, incomplete, corrupt or of another format version.
    """
    path = Path(folder)
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format_version") != FORMAT_VERSION:
            raise NetworkError(
                f"路网格式版本不符 (network format version {manifest.get('format_version')}, "
                f"expected {FORMAT_VERSION}): {path}"
            )
        # the pickled index and layout load while the tables are read (file reads and
        # Parquet decoding free the GIL)
        with ThreadPoolExecutor(1) as pool:
            index_read = pool.submit(_read_edge_index, path)
            layout_read = pool.submit(_read_layout, path)
            nodes = pd.read_parquet(path / "nodes.parquet")
            edges, geometry = _read_edges_parquet(path / "edges.parquet")
            edge_index, layout = index_read.result(), layout_read.result()
        missing = [c for c in NODE_COLUMNS if c not in nodes] + [
            c for c in EDGE_COLUMNS if c not in edges and c != "geometry"
        ]
        if missing:
            raise NetworkError(f"路网文件缺少列 (network files lack columns {missing}): {path}")
        if len(nodes) != manifest["nodes"] or len(edges) != manifest["edges"]:
            raise NetworkError(f"路网文件不完整 (network files are incomplete): {path}")
        nodes = normalise_nodes(nodes)
        edges = normalise_edge_table(edges)
        n = len(nodes)
        if len(edges) and (
            min(edges["u"].min(), edges["v"].min()) < 0
            or max(edges["u"].max(), edges["v"].max()) >= n
        ):
            raise NetworkError(f"路网文件中的边索引无效 (edge node index out of range): {path}")
        crs = str(manifest["crs"])
        meta = {**manifest.get("meta", {}), "from_cache": True}
        return WalkNetwork.with_lazy_geometry(
            nodes,
            edges,
            geometry,
            crs,
            meta,
            edge_index=edge_index,
            layout=layout,
        )
    except NetworkError:
        raise
    except Exception as exc:
        raise NetworkError(
            f"无法读取路网文件夹 (cannot read network folder) {path}: {exc}"
        ) from exc


def write_network_tables(net: WalkNetwork, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the network as two GeoParquet/Parquet tables for other tools (QGIS, DuckDB).

    ``nodes.parquet``: ``node_id`` (OSM node id), ``lon``, ``lat``, ``component``.
    ``edges.parquet``: ``u``, ``v``, ``length_m``, ``highway``, ``access``, ``private``,
    ``way_id``, ``geometry`` (WKB LineStrings, EPSG:4326). Unlike in :class:`WalkNetwork`,
    ``u`` and ``v`` here are **OSM node ids** (``node_id``), not row indices, so the files
    stand on their own. Each file is written under a temporary name, then renamed.

    Parameters
    ----------
    net
        The network.
    out_dir
        Output folder; created when missing.

    Returns
    -------
    dict
        ``{"nodes": path, "edges": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    node_ids = net.nodes["node_id"].to_numpy()
    edges = net.edges.copy()
    edges["u"] = node_ids[edges["u"].to_numpy()]
    edges["v"] = node_ids[edges["v"].to_numpy()]
    paths = {"nodes": out / "nodes.parquet", "edges": out / "edges.parquet"}
    with atomic_path(paths["nodes"]) as tmp:
        net.nodes[list(NODE_COLUMNS)].to_parquet(tmp, index=False)
    with atomic_path(paths["edges"]) as tmp:
        edges[list(EDGE_COLUMNS)].to_parquet(tmp, index=False)
    return paths


def read_polygon_file(path: Path) -> shapely.Polygon | shapely.MultiPolygon:
    """Read a study-area file (any vector format with a CRS) as one WGS-84 (Multi)Polygon.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        The union of its polygons.

    Raises
    ------
    SourceFileError
        The file cannot be read or holds no polygon.
    CRSError
        The file has no CRS.
    """
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:
        raise SourceFileError(f"无法读取范围文件 (cannot read polygon file) {path}: {exc}") from exc
    if gdf.crs is None:
        raise CRSError(
            Problem(
                file=str(path),
                message="文件没有坐标系 (the file has no CRS); "
                "save it with its CRS, e.g. EPSG:4326",
            )
        )
    geom = gdf.to_crs(4326).geometry.union_all()
    if not isinstance(geom, shapely.Polygon | shapely.MultiPolygon):
        geom = shapely.make_valid(geom)
        polys = [g for g in shapely.get_parts(geom) if isinstance(g, shapely.Polygon)]
        if not polys:
            raise SourceFileError(f"范围文件中没有面 (no polygon in file): {path}")
        geom = shapely.MultiPolygon(polys)
    return geom
