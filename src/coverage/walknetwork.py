"""The walk network object: node and edge tables that cannot change, and what derives from them.

A :class:`WalkNetwork` keeps its own copy of the tables it is given and hands out copies
(pandas copy-on-write: cheap, and changing one never changes the network). What the snapping
and shortest-path code derive from the tables (:attr:`WalkNetwork.edge_index`,
:attr:`WalkNetwork.layout`, each travel profile's graph via :meth:`WalkNetwork.derived`) is
built lazily, once, and kept on the network: it cannot go stale. To change a network, build a
new one from changed tables.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Hashable
from functools import cached_property
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.netarrays import EdgeIndex, GraphLayout, build_edge_index, build_graph_layout

__all__ = ["WalkNetwork"]

T = TypeVar("T")

_DERIVED = ("edge_index", "layout", "_derived")  # built lazily; never pickled


class WalkNetwork:
    """An undirected pedestrian network (its tables cannot be changed after it is made).

    Parameters
    ----------
    nodes
        RangeIndex ``0..n-1`` (the node index used by every array); columns ``node_id``
        (int64, OSM node id), ``lon``, ``lat`` (float64, WGS-84), ``component`` (int32;
        0 is the largest connected component, then by size descending).
    edges
        RangeIndex ``0..m-1``, one row per undirected edge; columns ``u``, ``v`` (int64 node
        indices), ``length_m`` (float64 > 0), ``highway`` (str), ``access`` (str or None),
        ``private`` (bool), ``way_id`` (int64), ``geometry`` (LineString from ``u`` to ``v``,
        EPSG:4326).
    crs
        The local metric CRS used for distances (UTM zone of the network's centre).
    meta
        Source description, cache key, format version and build time.

    Notes
    -----
    ``nodes`` and ``edges`` return copies (copy-on-write, so cheap): changing them does not
    change the network, which is what keeps :attr:`edge_index`, :attr:`layout` and the
    travel graphs valid. Two networks are equal only when they are the same object.
    """

    _nodes: pd.DataFrame
    _edges: gpd.GeoDataFrame
    _table: pd.DataFrame  # the edge attributes (``_edges`` itself once geometry exists)
    _geometry: Callable[[], Any] | None  # makes the geometry of a lazily read network
    crs: str
    meta: dict[str, Any]

    def __init__(
        self,
        nodes: pd.DataFrame,
        edges: gpd.GeoDataFrame,
        crs: str,
        meta: dict[str, Any] | None = None,
        *,
        edge_index: EdgeIndex | None = None,
    ) -> None:
        d = self.__dict__
        d["_nodes"] = nodes.copy(deep=False)
        d["_edges"] = edges.copy(deep=False)
        d["_table"] = d["_edges"]
        d["_geometry"] = None
        d["crs"] = str(crs)
        d["meta"] = dict(meta) if meta is not None else {}
        if edge_index is not None:
            d["edge_index"] = _checked_index(edge_index, d["_table"], d["crs"])

    @classmethod
    def with_lazy_geometry(
        cls,
        nodes: pd.DataFrame,
        edge_table: pd.DataFrame,
        geometry: Callable[[], Any],
        crs: str,
        meta: dict[str, Any] | None = None,
        *,
        edge_index: EdgeIndex | None = None,
        layout: GraphLayout | None = None,
    ) -> WalkNetwork:
        """Make a network whose edge geometries are built on the first use of :attr:`edges`.

        Snapping and walk times need only :attr:`edge_index` (which a cached network
        brings along) and the edge attributes, so a network read from the cache never
        builds its million LineStrings unless asked for them.

        Parameters
        ----------
        nodes
            The node table.
        edge_table
            The edge table without ``geometry`` (the other columns of :attr:`edges`).
        geometry
            Returns the edges' WGS-84 LineStrings (an array, in edge order) when called.
        crs
            The local metric CRS.
        meta
            Meta data.
        edge_index
            The edge index, when already built.
        layout
            The graph layout (:attr:`layout`), when already built.

        Returns
        -------
        WalkNetwork
        """
        obj = cls.__new__(cls)
        d = obj.__dict__
        d["_nodes"] = nodes.copy(deep=False)
        d["_table"] = edge_table.copy(deep=False)
        d["_geometry"] = geometry
        d["crs"] = str(crs)
        d["meta"] = dict(meta) if meta is not None else {}
        if edge_index is not None:
            d["edge_index"] = _checked_index(edge_index, d["_table"], d["crs"])
        if layout is not None:
            d["layout"] = _checked_layout(layout, d["_nodes"], d["_table"])
        return obj

    def _full_edges(self) -> gpd.GeoDataFrame:
        d = self.__dict__
        if "_edges" not in d:
            with _LOCK:
                if "_edges" not in d:
                    geoms = gpd.GeoSeries(d["_geometry"](), crs="EPSG:4326")
                    edges = gpd.GeoDataFrame(d["_table"], geometry=geoms)
                    d["_edges"] = edges
                    d["_table"] = edges
                    d["_geometry"] = None
        edges_: gpd.GeoDataFrame = d["_edges"]
        return edges_

    # -- the tables -------------------------------------------------------------------------

    @property
    def nodes(self) -> pd.DataFrame:
        """The node table (a copy: changing it does not change the network)."""
        return self._nodes.copy(deep=False)

    @property
    def edges(self) -> gpd.GeoDataFrame:
        """The edge table (a copy: changing it does not change the network)."""
        return self._full_edges().copy(deep=False)

    @property
    def edge_attributes(self) -> pd.DataFrame:
        """The edge table without ``geometry`` (a copy; cheaper than :attr:`edges`)."""
        table = self._table
        if "geometry" in table.columns:
            return pd.DataFrame(table.drop(columns="geometry"))
        return pd.DataFrame(table.copy(deep=False))

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self._nodes)

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return len(self._table)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(
            f"WalkNetwork is immutable (cannot set {name!r}); build a new WalkNetwork"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"WalkNetwork is immutable (cannot delete {name!r})")

    def with_meta(self, meta: dict[str, Any]) -> WalkNetwork:
        """Return the same network with other meta data (sharing what is already derived).

        Parameters
        ----------
        meta
            The new meta data.

        Returns
        -------
        WalkNetwork
        """
        make = self._geometry
        if make is None:
            out = WalkNetwork(self._nodes, self._full_edges(), self.crs, meta)
        else:
            out = WalkNetwork.with_lazy_geometry(self._nodes, self._table, make, self.crs, meta)
        for name in _DERIVED:
            if name in self.__dict__:
                out.__dict__[name] = self.__dict__[name]
        return out

    # -- derived arrays (lazy, kept) ---------------------------------------------------------

    @cached_property
    def edge_index(self) -> EdgeIndex:
        """The edges in the metric CRS with their spatial index (built on first use)."""
        return build_edge_index(self._full_edges(), self.crs)

    @cached_property
    def layout(self) -> GraphLayout:
        """Node order and CSR structure shared by every travel profile (built on first use)."""
        return build_graph_layout(
            self._nodes, self._table, self.crs, proj_len=self.edge_index.proj_len
        )

    @cached_property
    def _derived(self) -> dict[Hashable, Any]:
        return {}

    def derived(self, key: Hashable, build: Callable[[], T]) -> T:
        """Return ``build()``, made once per ``key`` and kept with this network.

        For products derived from the network's tables alone (e.g. a travel profile's graph,
        :func:`coverage.travel.travel_graph`): the tables cannot change, so they never go
        stale.

        Parameters
        ----------
        key
            What is derived (e.g. ``("travel_graph", profile key)``).
        build
            Makes it from this network.

        Returns
        -------
        object
            The product.
        """
        store = self._derived
        if key not in store:
            with _LOCK:
                if key not in store:
                    store[key] = build()
        value: T = store[key]
        return value

    # -- pickling and display -----------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        self._full_edges()  # geometry built: the state holds plain tables only
        return {k: v for k, v in self.__dict__.items() if k not in _DERIVED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _counts(self) -> dict[str, str]:
        n = self.n_nodes
        comp = self._nodes["component"].to_numpy() if n else np.zeros(0)
        km = float(self._table["length_m"].sum()) / 1000.0 if self.n_edges else 0.0
        return {
            "nodes": f"{n:,}",
            "edges": f"{self.n_edges:,}",
            "km": f"{km:,.1f}",
            "components": f"{int(comp.max()) + 1 if n else 0:,}",
            "crs": self.crs,
            "source": str(self.meta.get("source", "?"))[:120],
        }

    def __repr__(self) -> str:
        c = self._counts()
        return (
            f"<WalkNetwork {c['nodes']} nodes, {c['edges']} edges, {c['km']} km, "
            f"{c['components']} components, crs {c['crs']}, from {c['source']}>"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self._counts().items()
        )
        return f"<table><caption>WalkNetwork</caption>{rows}</table>"


_LOCK = threading.RLock()


def _checked_index(index: EdgeIndex, table: pd.DataFrame, crs: str) -> EdgeIndex:
    """Return ``index`` when it belongs to these edges (same CRS, ends and lengths)."""
    same = (
        index.crs == crs
        and len(index.u) == len(table)
        and np.array_equal(index.u, table["u"].to_numpy())
        and np.array_equal(index.v, table["v"].to_numpy())
        and np.array_equal(index.length_m, table["length_m"].to_numpy())
    )
    if not same:
        raise ValueError("the edge index does not belong to these edges")
    return index


def _checked_layout(layout: GraphLayout, nodes: pd.DataFrame, table: pd.DataFrame) -> GraphLayout:
    """Return ``layout`` when it belongs to these nodes and edges (counts and lengths)."""
    same = (
        len(layout.rank) == len(nodes)
        and len(layout.length_m) == len(table)
        and np.array_equal(layout.length_m, table["length_m"].to_numpy())
    )
    if not same:
        raise ValueError("the graph layout does not belong to these nodes and edges")
    return layout
