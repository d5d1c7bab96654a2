"""Tests of coverage.network: the walk network from OSM files and osmnx, cache and tables.

Real-extract checks compare against independent parsers (xml.etree for .osm.bz2, pyrosm for
.osm.pbf), a brute-force Python implementation of the splitting rule, and networkx graphs
of the unsimplified segments (total length, Dijkstra distances, components).
"""

from __future__ import annotations

import bz2
import itertools
import json
import logging
import pickle
import random
import shutil
import socket
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests
import shapely
from pyproj import Geod
from scipy.sparse import coo_array
from scipy.sparse.csgraph import dijkstra

from coverage import dataedge
from coverage import network as netmod
from coverage.config import NetworkSource
from coverage.errors import CoverageWarning, CRSError, NetworkError
from coverage.netarrays import build_graph_layout
from coverage.network import (
    MIN_EDGE_LENGTH_M,
    WALK_HIGHWAYS,
    WalkNetwork,
    is_private,
    is_walkable,
    load_network,
    network_cache_key,
    network_from_bbox,
    network_from_file,
    network_from_place,
    network_from_source,
    network_summary,
    overpass_walk_filter,
    read_network,
    save_network,
    write_network_tables,
)

OSM_DIR = Path(__file__).parents[2] / "shared" / "data" / "osm"
EXTRACTS = sorted(p for p in OSM_DIR.glob("*") if p.name.endswith((".osm.bz2", ".osm.pbf")))
SLOW = {"monaco.osm.pbf", "brazil-porto-alegre.osm.pbf"}
SMALL = OSM_DIR / "beijing-haidian-cau.osm.bz2"
GEOD = Geod(ellps="WGS84")


def _extract_params() -> list[Any]:
    return [
        pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else [])
        for p in EXTRACTS
    ]


# -- independent readers ----------------------------------------------------------------------

Way = tuple[int, list[int], dict[str, str]]


def _read_xml(path: Path) -> tuple[dict[int, tuple[float, float]], list[Way]]:
    """All nodes and highway ways of an OSM XML(.bz2) file, with xml.etree."""
    coords: dict[int, tuple[float, float]] = {}
    ways: list[Way] = []
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rb") as fh:
        for _, el in ET.iterparse(fh, events=("end",)):
            if el.tag == "node":
                coords[int(el.get("id"))] = (float(el.get("lon")), float(el.get("lat")))
                el.clear()
            elif el.tag == "way":
                tags = {t.get("k"): t.get("v") for t in el.iter("tag")}
                refs = [int(nd.get("ref")) for nd in el.iter("nd")]
                if "highway" in tags:
                    ways.append((int(el.get("id")), refs, tags))
                el.clear()
    return coords, ways


def _read_pbf(path: Path) -> tuple[dict[int, tuple[float, float]], list[Way]]:
    """Highway ways of a PBF with pyrosm: its per-segment rows, chained back into ways."""
    import pyrosm

    osm = pyrosm.OSM(str(path))
    nodes, edges = osm.get_network(
        custom_filter={"highway": sorted(WALK_HIGHWAYS)},
        nodes=True,
        extra_attributes=["motorroad", "area"],
    )
    coords = dict(
        zip(
            nodes["id"].astype("int64"),
            zip(nodes["lon"].astype(float), nodes["lat"].astype(float), strict=True),
            strict=True,
        )
    )
    ids = edges["id"].to_numpy(dtype="int64")
    u = edges["u"].to_numpy(dtype="int64")
    v = edges["v"].to_numpy(dtype="int64")
    cols = [c for c in ("highway", "foot", "access", "motorroad", "area") if c in edges]
    tag_rows = pd.DataFrame(edges[cols]).astype(object).to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    stops = np.r_[starts[1:], len(ids)]
    assert len(np.unique(ids)) == len(starts), "pyrosm rows of a way are not contiguous"
    ways: list[Way] = []
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        assert (u[a + 1 : b] == v[a : b - 1]).all(), f"pyrosm rows of way {ids[a]} do not chain"
        tags = {c: str(t) for c, t in zip(cols, tag_rows[a], strict=True) if pd.notna(t)}
        ways.append((int(ids[a]), [int(u[a]), *v[a:b].tolist()], tags))
    return coords, ways


def _read_independent(path: Path) -> tuple[dict[int, tuple[float, float]], list[Way]]:
    return _read_pbf(path) if path.name.endswith(".pbf") else _read_xml(path)


def _expected(ways: list[Way]) -> tuple[set[int], list[tuple[int, list[int]]]]:
    """Brute force: the graph nodes and edges (way id, node sequence) the spec defines."""
    seqs = []
    for way_id, refs, tags in ways:
        if not is_walkable(tags):
            continue
        seq = [n for i, n in enumerate(refs) if i == 0 or n != refs[i - 1]]
        if len(seq) >= 2:
            seqs.append((way_id, seq))
    graph: set[int] = set()
    ways_at: dict[int, set[int]] = defaultdict(set)
    for i, (_, seq) in enumerate(seqs):
        closed = seq[0] == seq[-1]
        body = seq[:-1] if closed else seq
        if not closed:
            graph.update((seq[0], seq[-1]))
        seen: set[int] = set()
        for n in body:
            if n in seen:
                graph.add(n)
            seen.add(n)
            ways_at[n].add(i)
    graph.update(n for n, s in ways_at.items() if len(s) >= 2)
    edges: list[tuple[int, list[int]]] = []
    for way_id, seq in seqs:
        if seq[0] == seq[-1] and seq[0] not in graph:
            body = seq[:-1]
            hits = [i for i, n in enumerate(body) if n in graph]
            i0 = hits[0] if hits else body.index(min(body))
            graph.add(body[i0])
            seq = body[i0:] + body[:i0] + [body[i0]]
        start = 0
        for i in range(1, len(seq)):
            if seq[i] in graph or i == len(seq) - 1:
                piece = seq[start : i + 1]
                if piece[0] == piece[-1]:  # a loop: split at its middle node
                    m = (len(piece) - 1) // 2
                    graph.add(piece[m])
                    edges += [(way_id, piece[: m + 1]), (way_id, piece[m:])]
                else:
                    edges.append((way_id, piece))
                start = i
    return graph, edges


def _edge_key(way_id: int, a: int, b: int, n_coords: int) -> tuple[int, int, int, int]:
    return (way_id, min(a, b), max(a, b), n_coords)


def _segment_graph(
    coords: dict[int, tuple[float, float]], ways: list[Way], graph_nodes: set[int]
) -> tuple[nx.Graph, float]:
    """Unsimplified networkx graph of all walkable segments, weighted by geodesic length."""
    g = nx.Graph()
    total = 0.0
    for _, refs, tags in ways:
        if not is_walkable(tags):
            continue
        for a, b in itertools.pairwise(refs):
            if a == b:
                continue
            (x1, y1), (x2, y2) = coords[a], coords[b]
            d = GEOD.inv(x1, y1, x2, y2)[2]
            total += d
            if d == 0 and a in graph_nodes and b in graph_nodes:
                d = MIN_EDGE_LENGTH_M  # the builder keeps such edges with this length
            if not g.has_edge(a, b) or g[a][b]["w"] > d:
                g.add_edge(a, b, w=d)
    return g, total


def _csr(net: WalkNetwork) -> Any:
    """Symmetric sparse matrix of the network, parallel edges reduced to the shortest
    (a plain COO -> CSR conversion would add them up)."""
    n = len(net.nodes)
    u, v = net.edges["u"].to_numpy(), net.edges["v"].to_numpy()
    w = net.edges["length_m"].to_numpy()
    frame = pd.DataFrame({"a": np.r_[u, v], "b": np.r_[v, u], "w": np.r_[w, w]})
    best = frame.groupby(["a", "b"], as_index=False)["w"].min()
    return coo_array((best["w"], (best["a"], best["b"])), shape=(n, n)).tocsr()


# -- real extracts ----------------------------------------------------------------------------


def test_extracts_are_there() -> None:
    names = {p.name for p in EXTRACTS}
    assert {"beijing-haidian-cau.osm.bz2", "brazil-porto-alegre.osm.pbf"} <= names


@pytest.mark.parametrize("path", _extract_params())
def test_extract_matches_independent_count(path: Path) -> None:
    net = network_from_file(path)
    coords, ways = _read_independent(path)
    graph, edges = _expected(ways)

    node_ids = net.nodes["node_id"].to_numpy()
    assert net.nodes["node_id"].is_unique
    assert set(node_ids.tolist()) == graph
    assert len(net.nodes) == len(graph)
    assert len(net.edges) == len(edges)
    ncoords = shapely.get_num_coordinates(net.edges.geometry.to_numpy())
    got = Counter(
        _edge_key(w, a, b, c)
        for w, a, b, c in zip(
            net.edges["way_id"].tolist(),
            node_ids[net.edges["u"].to_numpy()].tolist(),
            node_ids[net.edges["v"].to_numpy()].tolist(),
            ncoords.tolist(),
            strict=True,
        )
    )
    want = Counter(_edge_key(w, seq[0], seq[-1], len(seq)) for w, seq in edges)
    assert got == want

    # geometry runs from node u to node v
    first = shapely.get_point(net.edges.geometry.to_numpy(), 0)
    last = shapely.get_point(net.edges.geometry.to_numpy(), -1)
    lon, lat = net.nodes["lon"].to_numpy(), net.nodes["lat"].to_numpy()
    u, v = net.edges["u"].to_numpy(), net.edges["v"].to_numpy()
    np.testing.assert_allclose(shapely.get_x(first), lon[u], atol=1e-9)
    np.testing.assert_allclose(shapely.get_y(last), lat[v], atol=1e-9)
    assert (net.edges["length_m"] > 0).all()
    assert (u != v).all()

    # total length against the networkx sum of unsimplified segments
    g, total = _segment_graph(coords, ways, graph)
    n_zero = int((net.edges["length_m"] == MIN_EDGE_LENGTH_M).sum())
    assert net.edges["length_m"].sum() == pytest.approx(
        total + n_zero * MIN_EDGE_LENGTH_M, rel=1e-6
    )

    # shortest paths against networkx Dijkstra on the unsimplified graph (30 pairs in the
    # largest component, 5 anywhere)
    rng = random.Random(7)
    csr = _csr(net)
    main = np.flatnonzero(net.nodes["component"].to_numpy() == 0).tolist()
    pairs = [(rng.choice(main), rng.choice(main)) for _ in range(30)]
    pairs += [(rng.randrange(len(node_ids)), rng.randrange(len(node_ids))) for _ in range(5)]
    for a, b in pairs:
        mine = dijkstra(csr, directed=False, indices=a)[b]
        try:
            ref = nx.dijkstra_path_length(g, int(node_ids[a]), int(node_ids[b]), weight="w")
        except nx.NetworkXNoPath:
            ref = np.inf
        assert mine == pytest.approx(ref, abs=1e-6, rel=1e-12)

    # components agree with networkx; 0 is the largest, then by size
    comp = net.nodes["component"].to_numpy()
    mine_parts = {frozenset(node_ids[comp == c].tolist()) for c in np.unique(comp)}
    ref_parts = {frozenset(c & graph) for c in nx.connected_components(g)} - {frozenset()}
    assert mine_parts == ref_parts
    sizes = np.bincount(comp)
    assert (np.diff(sizes) <= 0).all()


@pytest.mark.parametrize(
    "path", [p for p in EXTRACTS if p.name.endswith(".bz2")], ids=lambda p: p.name
)
def test_osmnx_graph_from_xml_agrees(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second independent parser (osmnx graph_from_xml, all ways, filtered by the walk
    predicate on its edge tags): same segments, the degree form of the node rule, and
    lengths within 0.5 % of osmnx's great-circle (spherical) lengths."""
    import osmnx as ox

    monkeypatch.setattr(
        ox.settings, "useful_tags_way", [*ox.settings.useful_tags_way, "foot", "motorroad"]
    )
    g = ox.graph_from_xml(path, simplify=False, retain_all=True, bidirectional=True)
    segments = [
        (a, b, d)
        for a, b, d in g.edges(data=True)
        if not d["reversed"] and is_walkable({k: str(v) for k, v in d.items()})
    ]
    degree: Counter[int] = Counter()
    ways_at: dict[int, set[int]] = defaultdict(set)
    for a, b, d in segments:
        degree.update((a, b))
        ways_at[a].add(d["osmid"])
        ways_at[b].add(d["osmid"])
    rule = {n for n in degree if degree[n] != 2 or len(ways_at[n]) >= 2}

    net = network_from_file(path)
    mine = set(net.nodes["node_id"].tolist())
    assert rule <= mine
    extra = mine - rule  # ring anchors and loop middles only: inside one way, degree 2
    assert all(degree[n] == 2 and len(ways_at[n]) == 1 for n in extra)
    n_segments = int((shapely.get_num_coordinates(net.edges.geometry.to_numpy()) - 1).sum())
    assert n_segments == len(segments)
    total = sum(d["length"] for _, _, d in segments)
    assert net.edges["length_m"].sum() == pytest.approx(total, rel=5e-3)


def test_node_order_follows_the_ways() -> None:
    net = network_from_file(SMALL)
    # spatially coherent: consecutive nodes are much closer than random pairs
    lon, lat = net.nodes["lon"].to_numpy(), net.nodes["lat"].to_numpy()
    step = np.hypot(np.diff(lon), np.diff(lat)).mean()
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(lon))
    assert step < 0.5 * np.hypot(np.diff(lon[perm]), np.diff(lat[perm])).mean()


def test_retain_all_false_keeps_the_largest_component() -> None:
    full = network_from_file(SMALL)
    big = network_from_file(SMALL, retain_all=False)
    assert len(big.nodes) == int((full.nodes["component"] == 0).sum())
    assert (big.nodes["component"] == 0).all()
    assert big.edges["u"].max() < len(big.nodes)
    assert set(big.nodes["node_id"]) == set(full.nodes.loc[full.nodes["component"] == 0, "node_id"])


# -- hand-made fixtures -----------------------------------------------------------------------


def _write_osm(path: Path, nodes: dict[int, tuple[float, float]], ways: list[Way]) -> Path:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for nid, (lon, lat) in sorted(nodes.items()):
        lines.append(f'  <node id="{nid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for wid, refs, tags in ways:
        lines.append(f'  <way id="{wid}" version="1">')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _grid_nodes() -> dict[int, tuple[float, float]]:
    # node 10*i + j at about 100 m spacing near Chizhou (Anhui)
    return {
        10 * i + j: (117.49 + 0.001 * j, 30.66 + 0.001 * i) for i in range(1, 6) for j in range(6)
    }


def _ways_by_id(net: WalkNetwork) -> dict[int, pd.DataFrame]:
    return {int(k): g for k, g in net.edges.groupby("way_id")}


def test_walk_filter_rules(tmp_path: Path) -> None:
    ways: list[Way] = [
        (1, [10, 11], {"highway": "residential"}),
        (2, [11, 12], {"highway": "footway", "foot": "no"}),
        (3, [12, 13], {"highway": "service", "access": "no"}),
        (4, [13, 14], {"highway": "footway", "access": "no", "foot": "yes"}),
        (5, [14, 15], {"highway": "service", "access": "private"}),
        (6, [20, 21], {"highway": "motorway"}),
        (7, [21, 22], {"highway": "motorway_link", "foot": "yes"}),
        (8, [22, 23], {"highway": "residential", "oneway": "yes"}),
        (9, [23, 24], {"highway": "steps"}),
        (10, [24, 25], {"highway": "trunk", "motorroad": "yes"}),
        (11, [30, 31], {"highway": "trunk"}),
        (12, [31, 32], {"highway": "construction"}),
        (13, [32, 33], {"highway": "service", "access": "private", "foot": "yes"}),
        (14, [33, 34], {"highway": "cycleway"}),
        (15, [34, 35], {"building": "yes"}),
        (16, [40, 41], {"highway": "primary", "oneway": "-1"}),
        (17, [41, 42], {"highway": "platform"}),
        (18, [42, 43], {"highway": "living_street", "foot": "use_sidepath"}),
    ]
    net = network_from_file(_write_osm(tmp_path / "f.osm", _grid_nodes(), ways))
    by_way = _ways_by_id(net)
    assert set(by_way) == {1, 4, 5, 8, 9, 11, 13, 14, 16}
    assert by_way[5]["private"].all()
    assert by_way[5]["access"].tolist() == ["private"]
    assert not by_way[4]["private"].any() and by_way[4]["access"].tolist() == ["no"]
    assert not by_way[13]["private"].any()
    assert by_way[1]["access"].tolist() == [None]
    assert by_way[9]["highway"].tolist() == ["steps"]
    assert (net.edges["highway"] == "steps").sum() == 1
    # oneway (and oneway=-1) ignored: both ends reach each other
    nodes = net.nodes.reset_index().set_index("node_id")["index"]
    dist = dijkstra(_csr(net), directed=False)
    for a, b in [(22, 23), (40, 41)]:
        expect = GEOD.inv(*_grid_nodes()[a], *_grid_nodes()[b])[2]
        assert dist[nodes[a], nodes[b]] == pytest.approx(expect)
        assert dist[nodes[b], nodes[a]] == pytest.approx(expect)


def test_filter_predicates_directly() -> None:
    assert is_walkable({"highway": "footway"})
    assert not is_walkable({"highway": "footway", "foot": "no"})
    assert not is_walkable({"highway": "path", "access": "no"})
    assert is_walkable({"highway": "path", "access": "no", "foot": "permissive"})
    assert is_walkable({"highway": "path", "access": "no", "foot": "designated"})
    assert is_walkable({"highway": "service", "access": "private"})
    assert is_private({"highway": "service", "access": "private"})
    assert is_private({"highway": "service", "foot": "private"})
    assert not is_private({"highway": "service", "access": "destination"})
    assert not is_walkable({"highway": "motorway"})
    assert not is_walkable({"building": "yes"})
    assert is_walkable({"highway": "pedestrian", "area": "yes"})
    f = overpass_walk_filter()
    assert "motorway" not in f and "footway" in f and '"foot"!~' in f


def test_closed_ways(tmp_path: Path) -> None:
    nodes = _grid_nodes()
    ways: list[Way] = [
        # an isolated square ring: split at its smallest id (10) and half-way round (21)
        (1, [11, 10, 20, 21, 11], {"highway": "footway"}),
        # a ring touching a road at 33 only: split at 33 and half-way round (43)
        (2, [33, 34, 44, 43, 42, 32, 33], {"highway": "pedestrian", "area": "yes"}),
        (3, [35, 33], {"highway": "residential"}),
        # a lollipop (open way coming back onto itself at 14): nodes 12, 14, and the loop's
        # middle node 25 (14-15-25-24-14 has four segments, 25 is after two)
        (4, [12, 13, 14, 15, 25, 24, 14], {"highway": "service"}),
    ]
    net = network_from_file(_write_osm(tmp_path / "rings.osm", nodes, ways))
    by_way = _ways_by_id(net)
    ids = net.nodes["node_id"].to_numpy()

    def ends(way_id: int) -> list[tuple[int, int]]:
        g = by_way[way_id]
        return sorted(
            tuple(sorted((int(ids[a]), int(ids[b])))) for a, b in zip(g.u, g.v, strict=True)
        )

    assert ends(1) == [(10, 21), (10, 21)]
    assert ends(2) == [(33, 43), (33, 43)]
    assert ends(3) == [(33, 35)]
    assert ends(4) == [(12, 14), (14, 25), (14, 25)]
    ring = [nodes[n] for n in [11, 10, 20, 21, 11]]
    perimeter = sum(GEOD.inv(*a, *b)[2] for a, b in itertools.pairwise(ring))
    assert by_way[1]["length_m"].sum() == pytest.approx(perimeter)
    assert set(ids.tolist()) == {10, 21, 33, 43, 35, 12, 14, 25}
    # the rings are real cycles: two different paths between their two nodes
    assert (net.edges["u"] != net.edges["v"]).all()


def test_two_components_labelled_by_size(tmp_path: Path) -> None:
    ways: list[Way] = [
        (1, [10, 11, 12], {"highway": "residential"}),  # small: 2 nodes
        (2, [30, 31], {"highway": "footway"}),  # big: 4 graph nodes
        (3, [31, 32, 33], {"highway": "footway"}),
        (4, [31, 41], {"highway": "path"}),
    ]
    net = network_from_file(_write_osm(tmp_path / "two.osm", _grid_nodes(), ways))
    comp = dict(zip(net.nodes["node_id"], net.nodes["component"], strict=True))
    assert comp == {10: 1, 12: 1, 30: 0, 31: 0, 33: 0, 41: 0}
    assert net.nodes["component"].dtype == np.int32
    s = network_summary(net)
    assert s["nodes"] == 6 and s["edges"] == 4 and s["components"] == 2
    assert s["largest_share"] == pytest.approx(4 / 6)
    assert s["km"] == pytest.approx(net.edges["length_m"].sum() / 1000)
    assert net.crs == "EPSG:32650"


def test_missing_nodes_split_the_way(tmp_path: Path) -> None:
    nodes = _grid_nodes()
    ways: list[Way] = [(1, [10, 11, 999, 12, 13, 14], {"highway": "residential"})]
    net = network_from_file(_write_osm(tmp_path / "clip.osm", nodes, ways))
    assert sorted(net.nodes["node_id"]) == [10, 11, 12, 14]
    assert len(net.edges) == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("none.osm", None, "找不到 OSM 文件"),
        ("roads.txt", "hello", "不支持的 OSM 文件类型"),
        ("broken.osm", "<osm><node id='1' lat=", "无法读取 OSM 文件"),
        ("broken.osm.pbf", "not a pbf", "无法读取 OSM 文件"),
        ("houses.osm", "buildings", "没有可步行的道路"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content == "buildings":
        _write_osm(path, _grid_nodes(), [(1, [10, 11, 21, 10], {"building": "yes"})])
    elif content is not None:
        path.write_text(content)
    with pytest.raises(NetworkError, match=message) as info:
        network_from_file(path)
    assert name in str(info.value)


# -- online path, recorded --------------------------------------------------------------------


def _overpass_json(path: Path) -> tuple[dict[str, Any], tuple[float, float, float, float]]:
    coords, ways = _read_xml(path)
    used = {n for _, refs, _ in ways for n in refs}
    elements: list[dict[str, Any]] = [
        {"type": "node", "id": n, "lat": coords[n][1], "lon": coords[n][0]} for n in sorted(used)
    ]
    elements += [{"type": "way", "id": w, "nodes": refs, "tags": tags} for w, refs, tags in ways]
    lons = [coords[n][0] for n in used]
    lats = [coords[n][1] for n in used]
    bounds = (min(lons) - 0.002, min(lats) - 0.002, max(lons) + 0.002, max(lats) + 0.002)
    return {"version": 0.6, "generator": "recorded", "elements": elements}, bounds


def _response(url: str, payload: Any) -> requests.Response:
    r = requests.Response()
    r.status_code = 200
    r.url = url
    r.encoding = "utf-8"
    r._content = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
    return r


class _Recorded:
    """Fake Nominatim and Overpass servers behind requests.get/post."""

    def __init__(self, overpass: dict[str, Any], nominatim: list[dict[str, Any]]) -> None:
        self.overpass = overpass
        self.nominatim = nominatim
        self.queries: list[str] = []

    def get(self, url: str, params: Any = None, **kwargs: Any) -> requests.Response:
        if url.endswith("/status"):
            text = "Connected as: 1\nCurrent time: x\nAnnounced endpoint: none\nRate limit: 2\n"
            return _response(url, text + "2 slots available now.\n")
        if "nominatim" in url:
            return _response(url, self.nominatim)
        raise AssertionError(f"unexpected GET {url}")

    def post(self, url: str, data: Any = None, **kwargs: Any) -> requests.Response:
        assert "interpreter" in url
        self.queries.append(str(data["data"]))
        return _response(url, self.overpass)


@pytest.fixture
def offline_osmnx(monkeypatch: pytest.MonkeyPatch) -> Any:
    """osmnx with its HTTP layer recorded, its cache off and every socket forbidden."""
    import osmnx as ox

    def no_socket(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a real socket was opened")

    monkeypatch.setattr(socket, "socket", no_socket)
    monkeypatch.setattr(socket, "create_connection", no_socket)
    monkeypatch.setattr(socket, "gethostbyname", lambda host: "192.0.2.1")
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)  # restored afterwards
    monkeypatch.setattr(ox.settings, "use_cache", False)
    monkeypatch.setattr(ox.settings, "cache_folder", "/nonexistent-osmnx-cache")
    monkeypatch.setattr("osmnx._nominatim.time.sleep", lambda s: None)

    def install(overpass: dict[str, Any], nominatim: list[dict[str, Any]]) -> _Recorded:
        rec = _Recorded(overpass, nominatim)
        monkeypatch.setattr(requests, "get", rec.get)
        monkeypatch.setattr(requests, "post", rec.post)
        return rec

    return install


def _nominatim(bounds: tuple[float, float, float, float]) -> list[dict[str, Any]]:
    w, s, e, n = bounds
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    return [
        {
            "place_id": 1,
            "osm_type": "relation",
            "osm_id": 1,
            "lat": str((s + n) / 2),
            "lon": str((w + e) / 2),
            "boundingbox": [str(s), str(n), str(w), str(e)],
            "class": "boundary",
            "type": "administrative",
            "importance": 0.5,
            "display_name": "中国农业大学东校区, 海淀区, 北京市",
            "geojson": {"type": "Polygon", "coordinates": [ring]},
        }
    ]


def _same_network(a: WalkNetwork, b: WalkNetwork) -> None:
    assert len(a.nodes) == len(b.nodes) and len(a.edges) == len(b.edges)
    assert a.edges["length_m"].sum() == pytest.approx(b.edges["length_m"].sum(), rel=1e-9)
    assert set(a.nodes["node_id"]) == set(b.nodes["node_id"])

    def keys(net: WalkNetwork) -> Counter[tuple[int, int, int]]:
        ids = net.nodes["node_id"].to_numpy()
        u, v = ids[net.edges["u"].to_numpy()], ids[net.edges["v"].to_numpy()]
        return Counter(zip(net.edges["way_id"], np.minimum(u, v), np.maximum(u, v), strict=True))

    assert keys(a) == keys(b)
    assert a.crs == b.crs


def test_online_place_equals_file(offline_osmnx: Any) -> None:
    import osmnx as ox

    overpass, bounds = _overpass_json(SMALL)
    rec = offline_osmnx(overpass, _nominatim(bounds))
    tags_before = list(ox.settings.useful_tags_way)
    getaddrinfo = socket.getaddrinfo
    net = network_from_place("中国农业大学东校区, 海淀区, 北京市")
    _same_network(net, network_from_file(SMALL))
    assert rec.queries and all(overpass_walk_filter() in q for q in rec.queries)
    assert net.meta["source"].startswith("place ")
    # osmnx settings and the socket module are left as they were
    assert ox.settings.useful_tags_way == tags_before
    assert socket.getaddrinfo is getaddrinfo


def test_online_bbox_and_polygon_file_equal_file(offline_osmnx: Any, tmp_path: Path) -> None:
    overpass, bounds = _overpass_json(SMALL)
    offline_osmnx(overpass, [])
    ref = network_from_file(SMALL)
    _same_network(network_from_bbox(bounds), ref)
    poly = tmp_path / "area.geojson"
    gpd.GeoDataFrame(geometry=[shapely.box(*bounds)], crs=4326).to_file(poly)
    _same_network(network_from_source(NetworkSource(polygon=poly)), ref)


def test_online_bbox_cuts_ways_at_the_box(offline_osmnx: Any) -> None:
    overpass, (w, s, e, n) = _overpass_json(SMALL)
    offline_osmnx(overpass, [])
    half = network_from_bbox((w, s, (w + e) / 2, n))
    full = network_from_file(SMALL)
    assert 0 < len(half.nodes) < len(full.nodes)
    assert half.nodes["lon"].max() <= (w + e) / 2
    assert set(half.edges["way_id"]) <= set(full.edges["way_id"])


CAU_BOUNDS = (116.34403, 39.99767, 116.35974, 40.00888)


def _query_area(query: str) -> shapely.Polygon:
    """The polygon an Overpass query asked for (``poly:'lat lon lat lon ...'``)."""
    import re

    text = re.search(r"poly:'([^']+)'", query)
    assert text is not None, query
    values = [float(x) for x in text.group(1).split()]
    return shapely.Polygon(list(zip(values[1::2], values[0::2], strict=True)))


def _north_m(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Metres from a's north edge to b's (along the meridian through a's centre)."""
    lon = a.centroid.x
    return GEOD.inv(lon, a.bounds[3], lon, b.bounds[3])[2] * (
        1 if b.bounds[3] > a.bounds[3] else -1
    )


def test_online_download_is_enlarged_by_the_margin(offline_osmnx: Any) -> None:
    # issue 7: online sources download the study area enlarged by the walk reach, so that
    # stations and paths just outside the area count; the request is recorded, not sent
    overpass, _ = _overpass_json(SMALL)
    rec = offline_osmnx(overpass, _nominatim(CAU_BOUNDS))
    plain = network_from_bbox(CAU_BOUNDS)
    asked_plain = _query_area(rec.queries[-1])
    big = network_from_bbox(CAU_BOUNDS, margin_m=600)
    asked_big = _query_area(rec.queries[-1])
    # osmnx adds its own 500 m to both requests; ours adds 600 m more on every side
    assert _north_m(asked_plain, asked_big) == pytest.approx(600, rel=0.02)
    assert asked_big.contains(asked_plain)
    box = shapely.box(*CAU_BOUNDS)
    assert _north_m(box, asked_plain) == pytest.approx(500, rel=0.02)
    # the data area recorded is the enlarged one; the plain download stays in the box
    assert dataedge.data_extent(plain).equals_exact(box, tolerance=1e-7)
    assert _north_m(box, dataedge.data_extent(big)) == pytest.approx(600, rel=0.01)
    assert plain.nodes["lat"].max() <= CAU_BOUNDS[3]
    assert big.nodes["lat"].max() > CAU_BOUNDS[3]  # ways beyond the box now count
    assert len(big.edges) > len(plain.edges)
    # a place: geocoded (recorded Nominatim answer), then enlarged the same way
    network_from_place("中国农业大学东校区, 海淀区, 北京市", margin_m=600)
    asked_place = _query_area(rec.queries[-1])
    assert asked_place.symmetric_difference(asked_big).area < 1e-6 * asked_big.area


def test_study_download_is_enlarged_by_its_walk_reach(offline_osmnx: Any, tmp_path: Path) -> None:
    from coverage import pipeline
    from coverage.config import load_study

    overpass, _ = _overpass_json(SMALL)
    rec = offline_osmnx(overpass, [])
    (tmp_path / "s.csv").write_text("id,name,lon,lat\nS1,a,116.35,40.0\n", encoding="utf-8")
    (tmp_path / "study.toml").write_text(
        f"name = 'online'\n[network]\nbbox = {list(CAU_BOUNDS)}\n"
        "[services.party]\nlabel_zh = '站'\nstations = 's.csv'\nminutes = [5, 10]\n",
        encoding="utf-8",
    )
    study = load_study(tmp_path / "study.toml")
    assert dataedge.walk_reach_m(study) == pytest.approx(750.0)  # 10 min at 4.5 km/h
    net = pipeline.network_for_study(study, cache_dir=tmp_path / "cache")
    box = shapely.box(*CAU_BOUNDS)
    assert _north_m(box, dataedge.data_extent(net)) == pytest.approx(750, rel=0.01)
    assert _north_m(box, _query_area(rec.queries[-1])) == pytest.approx(1250, rel=0.02)
    # the margin is part of the cache key (another margin is another download)
    src = study.network
    assert network_cache_key(src, margin_m=750) != network_cache_key(src)
    assert network_cache_key(src, margin_m=750) == net.meta["cache_key"]


def test_geocoding_failure(offline_osmnx: Any) -> None:
    offline_osmnx({"elements": []}, [])
    with pytest.raises(NetworkError, match="不存在的地方"):
        network_from_place("不存在的地方")


@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
def test_polygon_file_without_crs(tmp_path: Path) -> None:
    poly = tmp_path / "area.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]).to_file(poly)
    with pytest.raises(CRSError, match="CRS"):
        network_from_source(NetworkSource(polygon=poly))


# -- cache, storage and tables ----------------------------------------------------------------


@pytest.fixture
def small_copy(tmp_path: Path) -> Path:
    return Path(shutil.copy(SMALL, tmp_path / SMALL.name))


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[NetworkSource]:
    calls: list[NetworkSource] = []
    real = netmod.network_from_source

    def spy(source: NetworkSource, **kwargs: Any) -> WalkNetwork:
        calls.append(source)
        return real(source, **kwargs)

    monkeypatch.setattr(netmod, "network_from_source", spy)
    return calls


def _equal_tables(a: WalkNetwork, b: WalkNetwork) -> None:
    pd.testing.assert_frame_equal(a.nodes, b.nodes)
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.edges.drop(columns="geometry")),
        pd.DataFrame(b.edges.drop(columns="geometry")),
    )
    assert a.edges.geometry.geom_equals_exact(b.edges.geometry, tolerance=0).all()
    assert a.edges.crs == b.edges.crs
    assert a.crs == b.crs


def test_cache_second_load(
    small_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    calls = _spy(monkeypatch)
    source = NetworkSource(osm_file=small_copy)
    cache = tmp_path / "cache"
    first = load_network(source, cache_dir=cache)
    assert len(calls) == 1 and first.meta["from_cache"] is False
    key = network_cache_key(source)
    assert first.meta["cache_key"] == key
    folders = list(cache.iterdir())
    assert [f.name for f in folders] == [f"network-{key[:24]}"]
    assert {p.name for p in folders[0].iterdir()} == {
        "nodes.parquet",
        "edges.parquet",
        "edge_index.pickle",  # format version 3: the edge index is cached too
        "layout.pickle",  # and the travel graphs' layout (optional in a folder)
        "manifest.json",
    }
    with caplog.at_level(logging.INFO, logger="coverage.network"):
        second = load_network(source, cache_dir=cache)
    assert len(calls) == 1
    assert second.meta["from_cache"] is True
    assert any("network loaded from cache" in r.getMessage() for r in caplog.records)
    _equal_tables(first, second)
    # the layout read from the cache is the one the tables give
    assert "layout" in second.__dict__
    rebuilt = build_graph_layout(
        second.nodes, second.edges, second.crs, proj_len=second.edge_index.proj_len
    )
    for name in ("rank", "node_x", "node_y", "indptr", "indices", "arc_edge", "pair_start"):
        np.testing.assert_array_equal(getattr(second.layout, name), getattr(rebuilt, name))
    assert second.layout.stretch == rebuilt.stretch

    third = load_network(source, cache_dir=cache, refresh=True)
    assert len(calls) == 2 and third.meta["from_cache"] is False
    _equal_tables(first, third)


def test_cache_key_follows_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = _grid_nodes()
    path = _write_osm(tmp_path / "a.osm", nodes, [(1, [10, 11, 12], {"highway": "path"})])
    source = NetworkSource(osm_file=path)
    key1 = network_cache_key(source)
    calls = _spy(monkeypatch)
    load_network(source, cache_dir=tmp_path / "c")
    _write_osm(path, nodes, [(1, [10, 11, 12, 13], {"highway": "path"})])
    assert network_cache_key(source) != key1
    net = load_network(source, cache_dir=tmp_path / "c")
    assert len(calls) == 2 and net.meta["from_cache"] is False
    assert sorted(net.nodes["node_id"]) == [10, 13]
    # same content elsewhere: same key; other sources get other keys
    other = Path(shutil.copy(path, tmp_path / "b.osm"))
    assert network_cache_key(NetworkSource(osm_file=other)) == network_cache_key(source)
    assert network_cache_key(NetworkSource(place=" 贵池区,  池州市 ")) == network_cache_key(
        NetworkSource(place="贵池区, 池州市")
    )
    assert network_cache_key(NetworkSource(bbox=(1, 2, 3, 4))) != network_cache_key(
        NetworkSource(bbox=(1, 2, 3, 5))
    )


@pytest.mark.parametrize(
    "damage",
    ["garbage_edges", "no_nodes", "bad_manifest", "old_format", "truncated_nodes", "empty"],
)
def test_corrupt_cache_is_rebuilt(
    small_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    source = NetworkSource(osm_file=small_copy)
    cache = tmp_path / "cache"
    first = load_network(source, cache_dir=cache)
    folder = next(cache.iterdir())
    if damage == "garbage_edges":
        (folder / "edges.parquet").write_bytes(b"PAR1 garbage")
    elif damage == "no_nodes":
        (folder / "nodes.parquet").unlink()
    elif damage == "bad_manifest":
        (folder / "manifest.json").write_text("{not json")
    elif damage == "old_format":
        m = json.loads((folder / "manifest.json").read_text())
        m["format_version"] = -1
        (folder / "manifest.json").write_text(json.dumps(m))
    elif damage == "truncated_nodes":
        first.nodes.iloc[:10].to_parquet(folder / "nodes.parquet", index=False)
    else:
        for p in folder.iterdir():
            p.unlink()
    calls = _spy(monkeypatch)
    with pytest.warns(CoverageWarning, match="rebuilding"):
        again = load_network(source, cache_dir=cache)
    assert len(calls) == 1 and again.meta["from_cache"] is False
    _equal_tables(first, again)
    assert load_network(source, cache_dir=cache).meta["from_cache"] is True


def test_save_read_and_pickle(tmp_path: Path) -> None:
    net = network_from_file(SMALL)
    back = read_network(save_network(net, tmp_path / "net"))
    _equal_tables(net, back)
    assert back.meta["source"] == net.meta["source"]
    save_network(net, tmp_path / "net")  # replacing an existing folder works
    again = pickle.loads(pickle.dumps(back))
    _equal_tables(net, again)
    assert again.meta == back.meta
    with pytest.raises(NetworkError, match="无法读取路网文件夹"):
        read_network(tmp_path / "nowhere")


def test_write_network_tables(tmp_path: Path) -> None:
    net = network_from_file(SMALL)
    paths = write_network_tables(net, tmp_path / "out")
    assert paths == {
        "nodes": tmp_path / "out/nodes.parquet",
        "edges": tmp_path / "out/edges.parquet",
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "edges.parquet",
        "nodes.parquet",
    ]
    nodes = pd.read_parquet(paths["nodes"])
    assert list(nodes.columns) == ["node_id", "lon", "lat", "component"]
    table = pq.read_table(paths["edges"])
    assert table.column_names == [
        "u",
        "v",
        "length_m",
        "highway",
        "access",
        "private",
        "way_id",
        "geometry",
    ]
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["columns"]["geometry"]["encoding"] == "WKB"
    lines = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    assert set(shapely.get_type_id(lines)) == {1}  # LineString
    edges = gpd.read_parquet(paths["edges"])
    assert edges.crs.to_epsg() == 4326
    # u, v are OSM node ids; the lines start at u and end at v
    pos = dict(zip(nodes["node_id"], zip(nodes["lon"], nodes["lat"], strict=True), strict=True))
    u, v = table.column("u").to_pylist(), table.column("v").to_pylist()
    assert set(u) | set(v) <= set(pos)
    start = shapely.get_coordinates(shapely.get_point(lines, 0))
    end = shapely.get_coordinates(shapely.get_point(lines, -1))
    np.testing.assert_allclose(start, [pos[x] for x in u])
    np.testing.assert_allclose(end, [pos[x] for x in v])
    assert (start[:, 0] > 116.3).all() and (start[:, 1] < 40.1).all()  # lon/lat, not metres


def test_cache_geometry_encodings(tmp_path: Path) -> None:
    """The cache stores GeoArrow lines; a WKB edges table (other tools) reads the same."""
    import pyarrow.parquet as pq

    net = network_from_file(SMALL)
    folder = save_network(net, tmp_path / "net")
    geo = json.loads(pq.read_schema(folder / "edges.parquet").metadata[b"geo"])
    assert geo["columns"]["geometry"]["encoding"] == "linestring"
    net.edges.to_parquet(folder / "edges.parquet", index=False)  # geopandas default: WKB
    _equal_tables(net, read_network(folder))
