"""GeoPackage layers written with each distinct shape converted to WKB once.

The result tables stack one frame per service: every compound's shape comes back once per
service (80,000 rows, 20,000 shapes in a large study). :func:`write_layer` writes what
``GeoDataFrame.to_file(path, layer=..., driver="GPKG", engine="pyogrio", use_arrow=True)``
writes (the same columns, types, values, geometries, geometry type, CRS and spatial index),
but builds the Arrow table itself: the WKB of each distinct shape once
(:func:`distinct_shapes`), taken for its repeats inside Arrow, and the layer's geometry type
found from the distinct shapes (polygons mixed with multipolygons promoted to multipolygons,
as pyogrio does). Tables the fast path does not cover (mixed 2D/3D, object columns that are
not text, dates, a written index) are handed to geopandas itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely

__all__ = ["DistinctShapes", "distinct_shapes", "write_layer"]

#: The layer geometry type of each shapely type id, as pyogrio names it.
_TYPE_NAMES = {
    int(shapely.GeometryType.POINT): "Point",
    int(shapely.GeometryType.LINESTRING): "LineString",
    int(shapely.GeometryType.LINEARRING): "LinearRing",
    int(shapely.GeometryType.POLYGON): "Polygon",
    int(shapely.GeometryType.MULTIPOINT): "MultiPoint",
    int(shapely.GeometryType.MULTILINESTRING): "MultiLineString",
    int(shapely.GeometryType.MULTIPOLYGON): "MultiPolygon",
    int(shapely.GeometryType.GEOMETRYCOLLECTION): "GeometryCollection",
}
#: The single types pyogrio promotes to multi in a GeoPackage when mixed with their multi type.
_PROMOTED = {"Point": "MultiPoint", "LineString": "MultiLineString", "Polygon": "MultiPolygon"}
_MAKE_MULTI = {
    "Point": shapely.multipoints,
    "LineString": shapely.multilinestrings,
    "Polygon": shapely.multipolygons,
}


@dataclass(frozen=True)
class DistinctShapes:
    """The distinct shapes of a geometry column.

    Attributes
    ----------
    codes
        Each row's shape: an index into ``wkb`` and ``first``.
    first
        The first row of each distinct shape.
    wkb
        The WKB of each distinct shape (None for a missing geometry).
    """

    codes: np.ndarray
    first: np.ndarray
    wkb: np.ndarray

    def rows(self, start: int, stop: int) -> DistinctShapes:
        """The distinct shapes of rows ``start:stop`` (their own codes, first rows and WKB)."""
        codes, shared = pd.factorize(self.codes[start:stop])
        first = _first_rows(codes, len(shared))
        return DistinctShapes(codes=codes, first=first, wkb=self.wkb[shared])


def distinct_shapes(geometry: gpd.GeoSeries | np.ndarray) -> DistinctShapes:
    """Each row's distinct shape (same WKB), each shape's WKB computed once.

    Rows holding the same shapely object are found first (the stacked tables share a
    compound's object across services), so only distinct objects are converted.

    Parameters
    ----------
    geometry
        The geometries (shapely objects or None).

    Returns
    -------
    DistinctShapes

    Examples
    --------
    >>> a, b = shapely.Point(1, 2), shapely.Point(3, 4)
    >>> shapes = distinct_shapes(np.array([a, b, a, shapely.Point(1, 2)], dtype=object))
    >>> shapes.codes.tolist(), shapes.first.tolist(), len(shapes.wkb)
    ([0, 1, 0, 0], [0, 1], 2)
    """
    geoms = np.asarray(geometry, dtype=object)
    by_object, objects = pd.factorize(np.fromiter(map(id, geoms), dtype=np.int64, count=len(geoms)))
    object_rows = _first_rows(by_object, len(objects))
    by_wkb, wkb = pd.factorize(shapely.to_wkb(geoms[object_rows]), use_na_sentinel=False)
    codes = by_wkb[by_object]
    wkb = np.asarray(wkb, dtype=object)
    wkb[pd.isna(wkb)] = None  # factorize gives a missing geometry's None back as NaN
    return DistinctShapes(codes=codes, first=_first_rows(codes, len(wkb)), wkb=wkb)


def _first_rows(codes: np.ndarray, n: int) -> np.ndarray:
    first = np.full(n, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    return first


def _geometry_type(geoms: np.ndarray) -> tuple[str | None, str | None]:
    """The layer geometry type pyogrio gives these (distinct) shapes, and the single type it
    promotes to multi (a GeoPackage takes no mix of both); None: leave it to pyogrio."""
    present = geoms[~shapely.is_missing(geoms)]
    solid = present[~shapely.is_empty(present)]
    has_z = shapely.has_z(solid)
    if has_z.any() and not has_z.all():
        return None, None  # pyogrio refuses mixed 2D/3D in a GeoPackage: let it say so
    names = {_TYPE_NAMES.get(int(t)) for t in np.unique(shapely.get_type_id(present))}
    if None in names:
        return None, None
    promoted = next((one for one, multi in _PROMOTED.items() if names == {one, multi}), None)
    name = str(names.pop()) if len(names) == 1 else "Unknown"
    name = _PROMOTED[promoted] if promoted else name
    return (f"{name} Z" if has_z.any() and name != "Unknown" else name), promoted


def _promoted_wkb(geoms: np.ndarray, wkb: np.ndarray, single: str) -> np.ndarray:
    """The WKB with each shape of the single type as a one-part multi shape (as pyogrio)."""
    out = wkb.copy()
    ones = np.flatnonzero(
        shapely.get_type_id(geoms) == getattr(shapely.GeometryType, single.upper())
    )
    multi = _MAKE_MULTI[single](np.atleast_2d(geoms[ones]), axis=0)
    out[ones] = shapely.to_wkb(multi)
    return out


def _plain_columns(frame: pd.DataFrame, columns: list[str]) -> bool:
    """Whether pyarrow takes every column as pyogrio would (text, numbers, flags)."""
    for name in columns:
        values = frame[name]
        dtype = values.dtype
        if isinstance(dtype, pd.StringDtype):
            continue
        if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
            continue
        if dtype.kind == "O" and pd.api.types.infer_dtype(values) == "string":
            continue
        return False
    return True


def write_layer(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    layer: str,
    description: str | None = None,
    shapes: DistinctShapes | None = None,
) -> None:
    """Write a table with a WGS-84 ``geometry`` column as a layer of a GeoPackage.

    Parameters
    ----------
    frame
        The table (its ``geometry`` column holds shapely objects in WGS-84; a default
        integer index, which is not written).
    path
        The GeoPackage (created, or the layer added to it).
    layer
        The layer's name.
    description
        The layer's description (``gpkg_contents``), when given.
    shapes
        :func:`distinct_shapes` of ``frame["geometry"]`` when already known.
    """
    options = {"layer_options": {"DESCRIPTION": description}} if description else {}
    attrs = [c for c in frame.columns if c != "geometry"]
    geometry_type = promoted = None
    if len(frame) and _plain_columns(frame, attrs) and _index_not_written(frame):
        shapes = shapes or distinct_shapes(frame["geometry"])
        geoms = frame["geometry"].to_numpy()[shapes.first]
        geometry_type, promoted = _geometry_type(geoms)
    if geometry_type is None or shapes is None:
        gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)
        gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio", use_arrow=True, **options)
        return
    wkb = _promoted_wkb(geoms, shapes.wkb, promoted) if promoted else shapes.wkb
    table = pa.Table.from_pandas(frame, columns=attrs, preserve_index=False)
    geometry = pa.array(wkb, type=pa.binary()).take(pa.array(shapes.codes))
    table = table.add_column(list(frame.columns).index("geometry"), "geometry", geometry)
    pyogrio.write_arrow(
        table,
        path,
        layer=layer,
        driver="GPKG",
        geometry_name="geometry",
        geometry_type=geometry_type,
        crs="EPSG:4326",
        **options,
    )


def _index_not_written(frame: pd.DataFrame) -> bool:
    """Whether geopandas would leave the index out (unnamed integers)."""
    return list(frame.index.names) == [None] and pd.api.types.is_integer_dtype(frame.index.dtype)
