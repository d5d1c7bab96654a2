"""The walk network: building it from OpenStreetMap, caching it, loading it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

__all__ = ["WalkNetwork"]


@dataclass(frozen=True, eq=False)
class WalkNetwork:
    """An undirected pedestrian network.

    Attributes
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
    """

    nodes: pd.DataFrame
    edges: gpd.GeoDataFrame
    crs: str
    meta: dict[str, Any] = field(default_factory=dict)
