"""The network builder: walkable way records -> :class:`~coverage.walknetwork.WalkNetwork`.

One pure, vectorised builder (:func:`build_network`) splits the ways at graph nodes,
measures geodesic lengths, labels connected components and returns the network, whatever the
source (a file read by :func:`coverage.osmfile.read_walk_ways` or an osmnx download turned
into way records by :func:`coverage.osmfile.ways_from_osmnx_graph`).

Graph nodes and edges
---------------------
A node is a graph node when it ends an (open) way, is shared by two or more walkable ways,
or appears more than once in one way. Equivalently: its number of walkable segments is not
2, or two or more ways use it. Every edge is the stretch of one way between two consecutive
graph nodes, with its full geometry. Closed ways (rings) are split at their graph nodes; the
closing node of a ring is not a graph node by itself (where a digitiser started drawing a
ring is not a junction). A ring with no graph node at all is split at its node with the
smallest OSM id and at the node half-way round, and any edge that would start and end at
the same node (a loop) is split at its middle node, so a ring becomes a proper cycle of at
least two edges and never vanishes. These rules depend only on the set of walkable segments,
never on where a ring starts, which keeps osmnx downloads and files in agreement.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Geod
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from coverage.coords import utm_crs_for
from coverage.errors import NetworkError
from coverage.osmfile import WayRecords
from coverage.walknetwork import WalkNetwork

__all__ = [
    "EDGE_COLUMNS",
    "FORMAT_VERSION",
    "MIN_EDGE_LENGTH_M",
    "NODE_COLUMNS",
    "build_network",
    "network_summary",
    "normalise_edge_table",
    "normalise_nodes",
    "normalise_tables",
]

logger = logging.getLogger("coverage.network")

#: Version of the network build rules and of the cache layout. Bump it whenever the builder,
#: the filter logic or the stored columns change: every cached network is then rebuilt.
FORMAT_VERSION = 5  # 4: meta keeps the data extent (coverage.dataedge); 5: the edge grid

#: Shortest length given to an edge whose two distinct end nodes share one position (OSM has
#: a few such duplicate nodes); the edge is kept so that connectivity is not lost.
MIN_EDGE_LENGTH_M = 0.01

GEOD = Geod(ellps="WGS84")
WGS84 = CRS.from_epsg(4326)  # parsed once: building a CRS costs milliseconds
NODE_COLUMNS = ("node_id", "lon", "lat", "component")
EDGE_COLUMNS = ("u", "v", "length_m", "highway", "access", "private", "way_id", "geometry")


@dataclass
class _Positions:
    """Way nodes as positions along the ways (one row per way node, ways one after another)."""

    node_id: np.ndarray  # OSM node id
    lon: np.ndarray
    lat: np.ndarray
    way_of: np.ndarray  # way of every position
    k: np.ndarray  # compact node index (first appearance order)
    n_all: int  # number of distinct nodes
    n_ways: int  # number of way records
    same_way: np.ndarray  # position i and i + 1 belong to one way (a segment)
    starts: np.ndarray  # first position of every way
    ends: np.ndarray  # last position of every way


def build_network(ways: WayRecords, *, source: str, retain_all: bool = True) -> WalkNetwork:
    """Build a :class:`WalkNetwork` from walkable way records (pure, vectorised).

    Parameters
    ----------
    ways
        Walkable way records (:func:`coverage.osmfile.read_walk_ways`).
    source
        What the network was made from (kept in ``meta["source"]``).
    retain_all
        Keep every connected component (default); False keeps only the largest.

    Returns
    -------
    WalkNetwork

    Raises
    ------
    NetworkError
        When no way has two or more nodes.
    """
    t0 = time.perf_counter()
    pos = _positions(ways, source)
    is_graph = _graph_nodes(pos)
    _anchor_rings(pos, is_graph)
    e_s, e_t = _split_ways(pos, is_graph)
    graph_nodes = np.flatnonzero(is_graph)
    new_index = np.full(pos.n_all, -1, dtype=np.int64)
    new_index[graph_nodes] = np.arange(len(graph_nodes))
    u, v = new_index[pos.k[e_s]], new_index[pos.k[e_t]]
    _, pos_of = np.unique(pos.k, return_index=True)  # a position of every node
    node_pos = pos_of[graph_nodes]

    way_idx = pos.way_of[e_s]
    nodes = pd.DataFrame(
        {
            "node_id": pos.node_id[node_pos],
            "lon": pos.lon[node_pos],
            "lat": pos.lat[node_pos],
            "component": _components(u, v, len(graph_nodes)),
        }
    )
    edges = gpd.GeoDataFrame(
        {
            "u": u,
            "v": v,
            "length_m": _edge_lengths(pos, e_s),
            "highway": ways.highway[way_idx],
            "access": ways.access[way_idx],
            "private": ways.private[way_idx],
            "way_id": ways.way_id[way_idx],
        },
        geometry=_edge_geometries(pos, e_s, e_t),
        crs=WGS84,
    )
    if not retain_all:
        nodes, edges = _largest_component(nodes, edges)
    nodes, edges = normalise_tables(nodes, edges)
    meta = {
        "source": source,
        "format_version": FORMAT_VERSION,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - t0, 3),
        "retain_all": retain_all,
        "from_cache": False,
    }
    net = WalkNetwork(
        nodes=nodes,
        edges=edges,
        crs=utm_crs_for(nodes["lon"].to_numpy(), nodes["lat"].to_numpy()),
        meta=meta,
    )
    _log_summary(net, "built")
    return net


def _positions(ways: WayRecords, source: str) -> _Positions:
    """Steps 1-2: drop repeated nodes and short ways; number the nodes compactly."""
    n_ways = len(ways.way_id)
    way_of = np.repeat(np.arange(n_ways, dtype=np.int64), np.diff(ways.offsets))
    node_id, lon, lat = ways.node_id, ways.lon, ways.lat
    # 1. drop consecutive repeats of a node, then ways left with fewer than two nodes
    keep = np.ones(len(node_id), dtype=bool)
    keep[1:] = ~((node_id[1:] == node_id[:-1]) & (way_of[1:] == way_of[:-1]))
    counts = np.bincount(way_of[keep], minlength=n_ways)
    keep &= (counts >= 2)[way_of]
    node_id, lon, lat, way_of = node_id[keep], lon[keep], lat[keep], way_of[keep]
    if len(node_id) == 0:
        raise NetworkError(f"没有可步行的道路 (no walkable ways): {source}")
    # 2. compact node index in order of first appearance along the ways (spatially coherent)
    uniq, first, inverse = np.unique(node_id, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    k = rank[inverse]  # compact node index of every position
    same_way = way_of[1:] == way_of[:-1]
    starts = np.flatnonzero(np.r_[True, ~same_way])
    return _Positions(
        node_id=node_id,
        lon=lon,
        lat=lat,
        way_of=way_of,
        k=k,
        n_all=len(uniq),
        n_ways=n_ways,
        same_way=same_way,
        starts=starts,
        ends=np.r_[starts[1:], len(k)] - 1,
    )


def _graph_nodes(pos: _Positions) -> np.ndarray:
    """Step 3: graph nodes have a number of walkable segments != 2, or two or more ways."""
    n_all = pos.n_all
    n_ways = max(pos.n_ways, 1)
    seg_a, seg_b = pos.k[:-1][pos.same_way], pos.k[1:][pos.same_way]
    degree = np.bincount(seg_a, minlength=n_all) + np.bincount(seg_b, minlength=n_all)
    pairs = np.unique(pos.k * np.int64(n_ways) + pos.way_of)
    n_ways_at = np.bincount(pairs // n_ways, minlength=n_all)
    is_graph: np.ndarray = (degree != 2) | (n_ways_at >= 2)
    return is_graph


def _anchor_rings(pos: _Positions, is_graph: np.ndarray) -> None:
    """Step 4: rings whose closing node is not a graph node start at their first graph node.

    A ring without any graph node is anchored at its smallest OSM node id. Rolls the ring's
    positions in ``pos`` and flags the anchors in ``is_graph`` (both in place).
    """
    k, starts, ends = pos.k, pos.starts, pos.ends
    ring = (k[starts] == k[ends]) & ~is_graph[k[starts]]
    if not ring.any():
        return
    perm = np.arange(len(k))
    for s, e in zip(starts[ring].tolist(), ends[ring].tolist(), strict=True):
        body = np.arange(s, e)  # positions without the closing repeat
        flagged = np.flatnonzero(is_graph[k[body]])
        if len(flagged):
            pivot = int(flagged[0])
        else:  # an isolated ring: anchor it at its smallest OSM node id
            pivot = int(np.argmin(pos.node_id[body]))
            is_graph[k[body[pivot]]] = True
        rolled = np.roll(body, -pivot)
        perm[s:e] = rolled
        perm[e] = rolled[0]
    pos.k, pos.lon, pos.lat, pos.node_id = k[perm], pos.lon[perm], pos.lat[perm], pos.node_id[perm]


def _split_ways(pos: _Positions, is_graph: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step 5: split every way at its graph nodes; split loops (u == v) at their middle node.

    Returns the first and last position of every edge (flags new graph nodes in place).
    """
    k = pos.k
    is_end = np.zeros(len(k), dtype=bool)
    is_end[pos.starts] = True
    is_end[pos.ends] = True
    while True:
        cut = np.flatnonzero(is_end | is_graph[k])
        e_s, e_t = cut[:-1], cut[1:]
        inner = pos.way_of[e_s] == pos.way_of[e_t]
        e_s, e_t = e_s[inner], e_t[inner]
        loop = k[e_s] == k[e_t]
        if not loop.any():
            return e_s, e_t
        mid = e_s[loop] + (e_t[loop] - e_s[loop]) // 2
        is_graph[k[mid]] = True


def _edge_lengths(pos: _Positions, e_s: np.ndarray) -> np.ndarray:
    """Step 7: geodesic lengths, per segment, summed per edge (at least MIN_EDGE_LENGTH_M)."""
    lon, lat = pos.lon, pos.lat
    _, _, dist = GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    seg_len = np.where(pos.same_way, np.asarray(dist, dtype=np.float64), 0.0)
    length_m = np.add.reduceat(seg_len, e_s)
    n_short = int(np.count_nonzero(length_m <= 0))
    if n_short:
        logger.debug("%d zero-length edge(s) set to %g m", n_short, MIN_EDGE_LENGTH_M)
        length_m = np.maximum(length_m, MIN_EDGE_LENGTH_M)
    return length_m


def _edge_geometries(pos: _Positions, e_s: np.ndarray, e_t: np.ndarray) -> np.ndarray:
    """Step 8: every edge's full LineString, vectorised."""
    n_coords = e_t - e_s + 1
    coord_edge = np.repeat(np.arange(len(e_s)), n_coords)
    coord_pos = np.arange(int(n_coords.sum())) - np.repeat(
        np.cumsum(n_coords) - n_coords - e_s, n_coords
    )
    geoms: np.ndarray = shapely.linestrings(
        pos.lon[coord_pos], pos.lat[coord_pos], indices=coord_edge
    )
    return geoms


def _components(u: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """Step 9: connected components, 0 = largest, then by size descending."""
    adjacency = coo_array((np.ones(len(u), dtype=np.int32), (u, v)), shape=(n, n)).tocsr()
    _, labels = connected_components(adjacency, directed=False)
    sizes = np.bincount(labels)
    by_size = np.argsort(-sizes, kind="stable")
    relabel = np.empty_like(by_size)
    relabel[by_size] = np.arange(len(by_size))
    component: np.ndarray = relabel[labels].astype(np.int32)
    return component


def _largest_component(
    nodes: pd.DataFrame, edges: gpd.GeoDataFrame
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    keep = nodes["component"].to_numpy() == 0
    new_index = np.cumsum(keep) - 1
    u = edges["u"].to_numpy()
    kept_edges = edges[keep[u]].copy()
    kept_edges["u"] = new_index[kept_edges["u"].to_numpy()]
    kept_edges["v"] = new_index[kept_edges["v"].to_numpy()]
    return nodes[keep].reset_index(drop=True), kept_edges.reset_index(drop=True)


def normalise_tables(
    nodes: pd.DataFrame, edges: gpd.GeoDataFrame
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Give the node and edge tables the contract's column order, dtypes and RangeIndex."""
    nodes = normalise_nodes(nodes)
    table = normalise_edge_table(edges)
    return nodes, gpd.GeoDataFrame(
        table, geometry=gpd.GeoSeries(edges.geometry.to_numpy(), crs=WGS84)
    )


def normalise_nodes(nodes: pd.DataFrame) -> pd.DataFrame:
    """The node table with the contract's column order and dtypes.

    Parameters
    ----------
    nodes
        A node table (``node_id``, ``lon``, ``lat``, ``component``).

    Returns
    -------
    pandas.DataFrame
        With a RangeIndex.
    """
    return pd.DataFrame(
        {
            "node_id": nodes["node_id"].to_numpy(dtype=np.int64),
            "lon": nodes["lon"].to_numpy(dtype=np.float64),
            "lat": nodes["lat"].to_numpy(dtype=np.float64),
            "component": nodes["component"].to_numpy(dtype=np.int32),
        }
    )


def normalise_edge_table(edges: pd.DataFrame) -> pd.DataFrame:
    """The edge attributes (no geometry) with the contract's column order and dtypes.

    Parameters
    ----------
    edges
        An edge table (``u``, ``v``, ``length_m``, ``highway``, ``access``, ``private``,
        ``way_id``; other columns are dropped).

    Returns
    -------
    pandas.DataFrame
        With a RangeIndex.
    """
    access = edges["access"].to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    highway = edges["highway"]
    return pd.DataFrame(
        {
            "u": edges["u"].to_numpy(dtype=np.int64),
            "v": edges["v"].to_numpy(dtype=np.int64),
            "length_m": edges["length_m"].to_numpy(dtype=np.float64),
            "highway": _as_str(highway),
            "access": pd.Series(access, dtype=object),
            "private": edges["private"].to_numpy(dtype=bool),
            "way_id": edges["way_id"].to_numpy(dtype=np.int64),
        }
    )


_STR = pd.array([], dtype="str").dtype


def _as_str(values: pd.Series) -> Any:
    """The values as a pandas ``str`` array (kept as they are when already one)."""
    if values.dtype == _STR:  # e.g. read from Parquet: no round trip through objects
        return values.array.copy()
    return pd.array(values.to_numpy(dtype=object), dtype="str")


def network_summary(net: WalkNetwork) -> dict[str, Any]:
    """Summarise a walk network in a few numbers.

    Parameters
    ----------
    net
        The network.

    Returns
    -------
    dict
        ``nodes``, ``edges`` (counts), ``km`` (total length of walkable way, km),
        ``components`` (number of connected components) and ``largest_share`` (share of
        the nodes in the largest component, 0..1).
    """
    n = len(net.nodes)
    comp = net.nodes["component"].to_numpy()
    return {
        "nodes": n,
        "edges": net.n_edges,
        "km": float(net.edge_attributes["length_m"].sum()) / 1000.0,
        "components": int(comp.max()) + 1 if n else 0,
        "largest_share": float(np.count_nonzero(comp == 0)) / n if n else 0.0,
    }


def _log_summary(net: WalkNetwork, verb: str) -> None:
    s = network_summary(net)
    logger.info(
        "walk network %s: %d nodes, %d edges, %.1f km, %d components "
        "(largest has %.0f%% of nodes) from %s",
        verb,
        s["nodes"],
        s["edges"],
        s["km"],
        s["components"],
        100 * s["largest_share"],
        net.meta.get("source", "?"),
    )
