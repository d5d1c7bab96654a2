"""Tests for coverage.walknetwork: a network whose tables cannot change, and its derived arrays."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _lattice import grid
from coverage import travel
from coverage.config import DEFAULT_PROFILES
from coverage.errors import NetworkError
from coverage.network import read_network, save_network
from coverage.walknetwork import WalkNetwork


def test_tables_are_copies_so_derived_arrays_cannot_go_stale() -> None:
    net = grid(4)
    graph = travel.travel_graph(net, profile=DEFAULT_PROFILES["adult"])
    index = net.edge_index
    before = net.edges["length_m"].to_numpy().copy()
    edges = net.edges
    edges.loc[0, "length_m"] = 1e6  # changes the copy only
    edges["u"] = 0
    nodes = net.nodes
    nodes.loc[0, "lon"] = 99.0
    np.testing.assert_array_equal(net.edges["length_m"].to_numpy(), before)
    assert net.nodes.loc[0, "lon"] != 99.0
    # derived once, kept
    assert net.edge_index is index
    assert travel.travel_graph(net, profile=DEFAULT_PROFILES["adult"]) is graph
    # a network made from the changed tables is another network with its own arrays
    other = WalkNetwork(nodes, edges, net.crs)
    assert other.edge_index is not index
    assert other.edge_index.length_m[0] == 1e6
    with pytest.raises(AttributeError, match="immutable"):
        net.crs = "EPSG:4326"  # type: ignore[misc]


def test_the_input_tables_are_not_shared_either() -> None:
    net = grid(3)
    edges = net.edges
    copy = WalkNetwork(net.nodes, edges, net.crs)
    edges.loc[0, "length_m"] = 5e5
    assert copy.edges.loc[0, "length_m"] != 5e5


def test_with_meta_shares_what_is_derived_and_pickle_drops_it() -> None:
    net = grid(3)
    index = net.edge_index
    other = net.with_meta({"source": "x"})
    assert other.meta == {"source": "x"} and other.edge_index is index
    back = pickle.loads(pickle.dumps(other))
    assert "edge_index" not in back.__dict__
    assert back.meta == {"source": "x"} and back.crs == net.crs
    np.testing.assert_array_equal(back.edge_index.proj_len, index.proj_len)


def test_repr_is_short_and_html_shows_counts() -> None:
    net = grid(5)
    text = repr(net)
    assert len(text) < 500
    assert text.startswith("<WalkNetwork 25 nodes, 40 edges")
    page = net._repr_html_()
    assert "<table>" in page and ">25<" in page and ">40<" in page


def test_cached_network_brings_its_edge_index_and_builds_geometry_on_demand(
    tmp_path: Path,
) -> None:
    net = grid(4)
    folder = save_network(net, tmp_path / "net")
    back = read_network(folder)
    assert "edge_index" in back.__dict__ and "_edges" not in back.__dict__
    for name in ("coords", "first", "seg_start", "seg_edge", "seg_offset", "piece_seg"):
        np.testing.assert_array_equal(getattr(back.edge_index, name), getattr(net.edge_index, name))
    assert back.edge_index.fingerprint == net.edge_index.fingerprint
    assert back.n_edges == net.n_edges and "geometry" not in back.edge_attributes
    # snapping and walk times need no geometry
    travel.travel_graph(back, profile=DEFAULT_PROFILES["adult"])
    assert "_edges" not in back.__dict__
    pd.testing.assert_frame_equal(pd.DataFrame(back.edges), pd.DataFrame(net.edges))
    # an edge index of other edges is refused: the cache is then rebuilt
    other = save_network(grid(3), tmp_path / "other")
    shutil.copy(other / "edge_index.pickle", folder / "edge_index.pickle")
    with pytest.raises(NetworkError):
        read_network(folder)
