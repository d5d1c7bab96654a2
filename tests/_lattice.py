"""Hand-made walk networks and point layers for the snap and travel tests.

Everything is laid out in local UTM metres (EPSG:32650, near Beijing, offset by ``X0, Y0``) and
stored in WGS-84 as the WalkNetwork contract says, so expected numbers can be worked out by hand
in metres. Imported by the test modules as ``from _lattice import ...``: pytest's default
(prepend) import mode puts tests/ on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from shapely.geometry import LineString, Point, Polygon

from coverage.network import WalkNetwork

CRS = "EPSG:32650"
X0, Y0 = 440_000.0, 4_428_000.0
_TO_WGS = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)

#: a diamond inside the lattice cell (100..200, 0..100), each vertex 15 m from one side
DIAMOND = [(150, 15), (185, 50), (150, 85), (115, 50), (150, 15)]


def wgs(x: float, y: float) -> tuple[float, float]:
    """(lon, lat) of the local metre point (x, y)."""
    lon, lat = _TO_WGS.transform(X0 + x, Y0 + y)
    return float(lon), float(lat)


def make_network(
    xy: Sequence[tuple[float, float]],
    edges: Sequence[tuple[int, int] | tuple[int, int, str]],
    *,
    via: dict[int, list[tuple[float, float]]] | None = None,
) -> WalkNetwork:
    """A WalkNetwork from local metre coordinates; ``via`` adds inner vertices to an edge."""
    via = via or {}
    lonlat = [wgs(x, y) for x, y in xy]
    rows = []
    for i, e in enumerate(edges):
        u, v = e[0], e[1]
        hw = e[2] if len(e) == 3 else "footway"  # type: ignore[misc]
        pts = [xy[u], *via.get(i, []), xy[v]]
        geom = LineString([lonlat[u], *[wgs(*p) for p in via.get(i, [])], lonlat[v]])
        rows.append((u, v, LineString(pts).length, hw, None, False, 1000 + i, geom))
    cols = ["u", "v", "length_m", "highway", "access", "private", "way_id", "geometry"]
    edf = gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry", crs="EPSG:4326")
    n = len(xy)
    adj = coo_array((np.ones(len(rows)), (edf.u.to_numpy(), edf.v.to_numpy())), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    sizes = np.bincount(labels)
    rank = np.empty_like(sizes)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
    nodes = pd.DataFrame(
        {
            "node_id": np.arange(n, dtype=np.int64) + 1,
            "lon": [p[0] for p in lonlat],
            "lat": [p[1] for p in lonlat],
            "component": rank[labels].astype(np.int32),
        }
    )
    return WalkNetwork(nodes, edf, CRS)


def grid(k: int = 3, step: float = 100.0, extra: Sequence[tuple[float, float]] = ()) -> WalkNetwork:
    """k x k lattice, node r*k+c at (c*step, r*step), horizontal edges first; ``extra`` (two
    points) adds a separate 2-node island after the lattice."""
    xy = [(c * step, r * step) for r in range(k) for c in range(k)]
    edges: list[tuple[int, int] | tuple[int, int, str]] = [
        (r * k + c, r * k + c + 1) for r in range(k) for c in range(k - 1)
    ]
    edges += [(r * k + c, (r + 1) * k + c) for r in range(k - 1) for c in range(k)]
    if extra:
        xy += list(extra)
        edges.append((k * k, k * k + 1))
    return make_network(xy, edges)


def points(xy: Sequence[tuple[float, float]], ids: Sequence[str], col: str) -> gpd.GeoDataFrame:
    """A WGS-84 point layer with the ids in column ``col``."""
    return gpd.GeoDataFrame(
        {col: list(ids)}, geometry=[Point(wgs(x, y)) for x, y in xy], crs="EPSG:4326"
    )


def polygons(
    rings: Sequence[Sequence[tuple[float, float]]], ids: Sequence[str]
) -> gpd.GeoDataFrame:
    """A WGS-84 polygon compound layer (``compound_id``) from local metre rings."""
    return gpd.GeoDataFrame(
        {"compound_id": list(ids)},
        geometry=[Polygon([wgs(x, y) for x, y in ring]) for ring in rings],
        crs="EPSG:4326",
    )


def local_xy(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """The layer's points back in local metres, shape (n, 2)."""
    g = gdf.geometry.to_crs(CRS)
    return np.column_stack([g.x - X0, g.y - Y0])
