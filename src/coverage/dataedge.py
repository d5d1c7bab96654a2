"""The edge of the map data: points beyond it, or so close that their gap may be the data's.

An OSM extract covers a box (its ``<bounds>`` / PBF header), or, without one, the convex hull
of its nodes; an online download covers the area asked for. Outside that area the walk
network is missing or cut into fragments (an export keeps whole ways that cross its box), so
a compound there is "unreachable" or "far from the network" because of the data, not the
streets. Within the walk reach of the largest threshold from the edge, a path or a station
just beyond it is missing too.

- :func:`walk_reach_m` (:func:`service_reach_m` per service): how far a study's longest walk
  can go (straight line), the margin online downloads are enlarged by (:func:`enlarge_area`);
- :func:`data_extent`: the area a network's data covers (kept in its ``meta``);
- :func:`edge_position`: per feature of a layer, outside the data or how far inside;
- :func:`mark_outside_network_data`: the reason ``outside_network_data`` for the gaps the
  data edge explains;
- :func:`warn_outside_network_data`: the one warning with the count and the fix.

Decisions
---------
- A feature is *outside* when its geometry does not touch the data area; otherwise
  ``edge_m`` is its distance to the area's boundary (0 when it crosses it).
- An uncovered feature outside the data gets ``outside_network_data`` whatever its reason
  (``no_access`` excepted: that is the study's access rule).
- Inside, the edge explains a gap only where missing data could have changed it:

  * ``far_from_network`` within ``max_snap_m`` of the edge (a way that would have taken the
    point must lie within ``max_snap_m`` of it, and inside the area the data is complete);
  * ``unreachable`` within ``reach_m`` (the walk reach of the largest threshold) of the edge,
    when the piece of network the feature was snapped onto reaches the edge (a node outside
    the area or within ``max_snap_m`` of its boundary: a way cut by the extract). An island
    wholly inside the data is a real island and stays ``unreachable``.

  A walk merely beyond the threshold keeps ``beyond_threshold`` inside the area (its time
  is known; a station beyond the edge could only shorten it).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from coverage.coords import utm_crs_for
from coverage.errors import CoverageWarning
from coverage.labels import pick

if TYPE_CHECKING:
    import geopandas as gpd

    from coverage.config import Study
    from coverage.walknetwork import WalkNetwork

__all__ = [
    "EXTENT_KEY",
    "OUTSIDE_REASON",
    "data_extent",
    "edge_position",
    "enlarge_area",
    "extent_meta",
    "mark_outside_network_data",
    "pieces_at_edge",
    "service_reach_m",
    "walk_reach_m",
    "warn_outside_network_data",
]

log = logging.getLogger(__name__)

#: The reason given to gaps the edge of the map data explains.
OUTSIDE_REASON = "outside_network_data"
#: The network ``meta`` key holding the data area (WKT, WGS-84).
EXTENT_KEY = "data_extent"
#: Reasons kept even outside the data area.
_KEPT_REASONS = frozenset({"", "no_access"})


def service_reach_m(study: Study, key: str) -> float:
    """Return the straight-line reach (metres) of one service's largest threshold.

    The threshold times the profile's speed, divided by its smallest time factor when one is
    below 1 (a way walked faster than level ground).

    Parameters
    ----------
    study
        The study.
    key
        The service key.

    Returns
    -------
    float
        Metres.
    """
    service = study.services[key]
    profile = study.profiles[service.profile]
    fastest = min([1.0, *(float(f) for f in profile.factors.values())])
    return float(max(service.minutes)) * profile.speed_m_per_min / fastest


def walk_reach_m(study: Study) -> float:
    """Return the straight-line reach (metres) of the study's longest walk.

    The largest :func:`service_reach_m` over the services: no walk of any service leaves a
    disc of this radius around its start.

    Parameters
    ----------
    study
        The study.

    Returns
    -------
    float
        Metres; 0 for a study without services.
    """
    return max((service_reach_m(study, key) for key in study.services), default=0.0)


def enlarge_area(area: shapely.Geometry, margin_m: float) -> shapely.Geometry:
    """Return a WGS-84 area widened by ``margin_m`` metres (buffered in its UTM zone).

    Parameters
    ----------
    area
        A (Multi)Polygon in WGS-84 degrees.
    margin_m
        Metres; 0 or less returns ``area`` unchanged.

    Returns
    -------
    shapely.Geometry

    Examples
    --------
    >>> big = enlarge_area(shapely.box(116.34, 39.99, 116.36, 40.01), 1000)
    >>> round(big.bounds[0], 3), round(big.bounds[3], 3)
    (116.328, 40.019)
    """
    if margin_m <= 0:
        return area
    from pyproj import Transformer

    w, s, e, n = area.bounds
    crs = utm_crs_for([w, e], [s, n])
    there = Transformer.from_crs(4326, crs, always_xy=True)
    back = Transformer.from_crs(crs, 4326, always_xy=True)

    def with_(t: Transformer) -> Any:
        return lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))

    metric = shapely.transform(area, with_(there))
    # a fine quadrant: the corners stay within a metre of the true margin
    return shapely.transform(metric.buffer(margin_m, quad_segs=16), with_(back))


def extent_meta(area: shapely.Geometry) -> dict[str, str]:
    """The network ``meta`` entry recording the data area (:data:`EXTENT_KEY`: WKT)."""
    return {EXTENT_KEY: shapely.to_wkt(area, rounding_precision=7)}


def data_extent(network: WalkNetwork) -> shapely.Geometry | None:
    """Return the area a network's data covers (WGS-84), when it is known.

    Parameters
    ----------
    network
        A network built by :mod:`coverage.network` (the area is in ``meta``).

    Returns
    -------
    shapely.Geometry or None
        ``None`` for a network made otherwise (from tables, or an older cache).
    """
    wkt = network.meta.get(EXTENT_KEY)
    return shapely.from_wkt(wkt) if isinstance(wkt, str) and wkt else None


def edge_position(layer: gpd.GeoDataFrame, network: WalkNetwork) -> pd.DataFrame:
    """Where each feature of a layer lies against the edge of the network's data.

    Parameters
    ----------
    layer
        Compounds, stations or candidates (WGS-84), in any order.
    network
        The walk network (:func:`data_extent`).

    Returns
    -------
    pandas.DataFrame
        One row per feature (the layer's index): ``outside`` (bool: the feature does not
        touch the data area) and ``edge_m`` (metres from the feature to the area's boundary
        when it lies wholly inside; 0 when it crosses the boundary or lies outside; inf when
        the network has no known data area).
    """
    area = data_extent(network)
    n = len(layer)
    if area is None or n == 0:
        return pd.DataFrame(
            {"outside": np.zeros(n, dtype=bool), "edge_m": np.full(n, np.inf)}, index=layer.index
        )
    import geopandas as gpd

    crs = network.crs
    metric = layer.geometry.to_crs(crs).to_numpy()
    zone = gpd.GeoSeries([area], crs=4326).to_crs(crs).iloc[0]
    shapely.prepare(zone)
    outside = ~shapely.intersects(zone, metric)
    inside = shapely.contains_properly(zone, metric)
    edge = np.zeros(n, dtype="float64")
    if inside.any():
        edge[inside] = shapely.distance(zone.boundary, metric[inside])
    return pd.DataFrame({"outside": outside, "edge_m": edge}, index=layer.index)


def pieces_at_edge(snapped: Any, network: WalkNetwork, *, tolerance_m: float) -> np.ndarray:
    """Whether each feature was snapped onto a piece of network that reaches the data's edge.

    Parameters
    ----------
    snapped
        A :class:`coverage.snap.SnappedPoints` of the layer (``ids``, ``owner``, ``edge``).
    network
        The walk network it was snapped onto.
    tolerance_m
        A connected component reaches the edge when one of its nodes lies outside the data
        area or within this many metres of its boundary.

    Returns
    -------
    numpy.ndarray
        One bool per feature (in ``snapped.ids`` order); False for features not snapped, and
        everywhere when the network has no known data area.
    """
    n = len(snapped.ids)
    out = np.zeros(n, dtype=bool)
    area = data_extent(network)
    if area is None or len(snapped.owner) == 0:
        return out
    from pyproj import Transformer

    nodes = network.nodes
    component = nodes["component"].to_numpy()
    # only the nodes of the components the features were snapped onto are measured
    comp_of_point = component[network.edge_index.u[np.asarray(snapped.edge)]]
    wanted = np.isin(component, np.unique(comp_of_point))
    there = Transformer.from_crs(4326, network.crs, always_xy=True)
    x, y = there.transform(nodes["lon"].to_numpy()[wanted], nodes["lat"].to_numpy()[wanted])
    zone = shapely.transform(area, lambda xy: np.column_stack(there.transform(xy[:, 0], xy[:, 1])))
    inner = zone.buffer(-tolerance_m) if tolerance_m > 0 else zone
    if inner.is_empty:
        reaching = np.ones(len(x), dtype=bool)
    else:
        shapely.prepare(inner)
        reaching = ~shapely.contains_xy(inner, x, y)
    touching = np.unique(component[wanted][reaching])
    at_edge = np.isin(comp_of_point, touching)
    np.logical_or.at(out, np.asarray(snapped.owner), at_edge)
    return out


def mark_outside_network_data(
    table: pd.DataFrame,
    position: pd.DataFrame,
    *,
    reach_m: float,
    max_snap_m: float,
    at_edge_piece: np.ndarray | None = None,
) -> pd.DataFrame:
    """Give ``outside_network_data`` to the gaps the edge of the map data explains.

    Parameters
    ----------
    table
        A result table with a ``reason`` column, in the layer's row order (assessed
        compounds, or stations with the reason they were not snapped).
    position
        :func:`edge_position` of the same layer (same length and order).
    reach_m
        The walk reach of the largest threshold (:func:`service_reach_m`).
    max_snap_m
        The study's ``max_snap_m``: how near the edge a ``far_from_network`` feature must be.
    at_edge_piece
        Per row, whether its network piece reaches the edge (:func:`pieces_at_edge`); None
        (stations) changes no ``unreachable``.

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` with the reasons replaced (see the module's decisions).

    Examples
    --------
    >>> table = pd.DataFrame({"reason": ["unreachable", "unreachable", "far_from_network",
    ...                                  "far_from_network", "beyond_threshold"]})
    >>> pos = pd.DataFrame({"outside": [False, False, False, False, True],
    ...                     "edge_m": [50.0, 900.0, 200.0, 400.0, 0.0]})
    >>> pieces = np.array([True, True, False, False, False])
    >>> got = mark_outside_network_data(table, pos, reach_m=500, max_snap_m=300,
    ...                                 at_edge_piece=pieces)
    >>> [r[:7] for r in got["reason"]]
    ['outside', 'unreach', 'outside', 'far_fro', 'outside']
    """
    reason = table["reason"].fillna("").astype(str).to_numpy()
    outside = position["outside"].to_numpy(dtype=bool)
    edge = position["edge_m"].to_numpy(dtype="float64")
    pieces = np.zeros(len(reason), dtype=bool) if at_edge_piece is None else at_edge_piece
    change = (
        (outside & ~np.isin(reason, list(_KEPT_REASONS)))
        | ((reason == "far_from_network") & (edge < max_snap_m))
        | ((reason == "unreachable") & (edge < reach_m) & np.asarray(pieces, dtype=bool))
    )
    out = table.copy()
    if change.any():
        out["reason"] = np.where(change, OUTSIDE_REASON, reason)
    return out


def warn_outside_network_data(
    compound_ids: Iterable[Any],
    station_ids: Iterable[Any],
    *,
    reach_m: float,
    lang: str | None = None,
) -> None:
    """Warn once when gaps come from the edge of the map data, with the count and the fix.

    Parameters
    ----------
    compound_ids, station_ids
        The compounds and stations given ``outside_network_data`` (any service; repeats are
        counted once).
    reach_m
        The walk reach of the largest threshold: how far beyond the study area the map data
        must reach.
    lang
        The study's language: ``"zh"`` (Chinese with the English; also ``None``) or ``"en"``.
    """
    compounds = sorted({str(c) for c in compound_ids})
    stations = sorted({str(s) for s in station_ids})
    if not compounds and not stations:
        return
    shown = "; ".join(
        ", ".join(items[:5]) + (" …" if len(items) > 5 else "")
        for items in (compounds, stations)
        if items
    )
    english = (
        f"{len(compounds)} compound(s) and {len(stations)} station(s) lie outside the network "
        "data or at its edge (on ways the data's boundary cuts, or where the nearest way may lie "
        "beyond it), so their gaps may come from missing map data (reason "
        f"outside_network_data); use an OSM extract reaching at least {reach_m:,.0f} m (the walk "
        "reach of the largest threshold) beyond the study area on every side"
    )
    chinese = (
        f"{len(compounds)} 个小区、{len(stations)} 个站点位于路网数据范围之外或其边缘（在被数据边界"
        f"截断的路网上，或附近的道路可能在范围外），其缺口可能来自地图数据缺失（原因 "
        f"outside_network_data）；请使用比研究范围每边至少大 {reach_m:,.0f} 米"
        f"（最大阈值的步行距离）的 OSM 数据 ({english})"
    )
    warnings.warn(
        pick(chinese, english, lang) + (f": {shown}" if shown else ""),
        CoverageWarning,
        stacklevel=2,
    )
    log.info("outside the network data: compounds %s; stations %s", compounds, stations)
