"""Coordinates and geometries of a layer: table columns to points, geo files to WGS-84, checks.

The second step of :mod:`coverage.inputs`: a table's longitude/latitude columns are found and
parsed, a geo file's CRS is checked and converted, GCJ-02/BD-09 numbers are converted to
WGS-84, and every row with empty, non-numeric, out-of-range, swapped, invalid or far-away
coordinates is recorded as a problem naming its row and column.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS

from coverage.config import LayerSpec
from coverage.coord_columns import LAT_COLUMNS, LON_COLUMNS, SYSTEM_NAMES, coordinate_header
from coverage.coords import to_wgs84, utm_crs_for
from coverage.errors import CoverageWarning, CRSError, Problem
from coverage.labels import pick
from coverage.layer_files import (
    Layer,
    RawGeo,
    RawTable,
    fatal,
    find_column,
    list_names,
    parse_numbers,
    problems_header,
    show_value,
    table_rows,
)

__all__ = ["LAT_COLUMNS", "LON_COLUMNS", "geo_layer", "table_layer", "to_points"]

_KM_PER_DEG = 111.32

# shapely geometry type ids
_POINT, _POLYGON, _MULTIPOINT, _MULTIPOLYGON = 0, 3, 4, 6


def table_layer(
    spec: LayerSpec,
    table: RawTable,
    *,
    known_headers: frozenset[str],
    study_area: tuple[float, float, float, float] | None,
    margin_km: float,
) -> Layer:
    """Find the header and the coordinate columns of a table and turn its rows into points.

    Parameters
    ----------
    spec
        The file (its ``coords`` system).
    table
        The cells as read.
    known_headers
        Lower-case column names that mark the header row (title lines may sit above it).
    study_area
        ``(west, south, east, north)``; points farther than ``margin_km`` outside are problems.
    margin_km
        Tolerance around the study area, in kilometres.

    Returns
    -------
    Layer
        Every cell as text, ``geometry`` WGS-84 points (``None`` where the coordinates are
        unusable), the problems found.

    Raises
    ------
    InputError
        When the file has no rows at all.
    """
    layer = table_rows(str(spec.path), table, known_headers=known_headers, lang=spec.language)
    columns = _coordinate_columns(layer, spec)
    if columns is None:
        return layer
    lon_col, lat_col, system = columns
    df = layer.data
    lon, lon_empty, lon_bad = parse_numbers(df[lon_col])
    lat, lat_empty, lat_bad = parse_numbers(df[lat_col])
    for col, values, empty, bad in (
        (lon_col, df[lon_col], lon_empty, lon_bad),
        (lat_col, df[lat_col], lat_empty, lat_bad),
    ):
        raw = values.to_numpy(dtype=object)
        for pos in np.flatnonzero(empty):
            layer.add(
                int(pos),
                col,
                layer.text(
                    "坐标为空 (empty coordinate); 请填写经纬度 (fill it in)",
                    "empty coordinate; fill it in",
                ),
            )
        for pos in np.flatnonzero(bad):
            layer.add(
                int(pos),
                col,
                layer.text(
                    f"坐标不是数字 (coordinate is not a number): {show_value(raw[pos])}; "
                    "请使用十进制度，如 117.49 (use decimal degrees such as 117.49)",
                    f"coordinate is not a number: {show_value(raw[pos])}; use decimal degrees "
                    "such as 117.49",
                ),
            )
    ok = ~(lon_empty | lon_bad | lat_empty | lat_bad)
    both = f"{lon_col}/{lat_col}"
    ok &= _check_range(layer, lon, lat, lon, lat, ok, both, geo=False)
    x, y = to_wgs84(lon, lat, system=system)
    ok &= _check_area(layer, x, y, x, y, ok, both, study_area, margin_km)
    points = np.full(len(df), None, dtype=object)
    points[ok] = shapely.points(x[ok], y[ok])
    layer.data = gpd.GeoDataFrame(
        df.drop(columns="geometry"), geometry=gpd.GeoSeries(points, crs="EPSG:4326")
    )
    layer.data.attrs["coords"] = system  # the system the file's numbers were in
    return layer


def _coordinate_columns(layer: Layer, spec: LayerSpec) -> tuple[str, str, str] | None:
    """The longitude and latitude columns of a table and the coordinate system of their numbers.

    ``None`` when a column is missing or the names contradict the study's ``coords`` (the
    problems are recorded).
    """
    columns = [c for c in layer.data.columns if c != "geometry"]
    found: dict[str, str | None] = {}
    for axis, names, option in (
        ("lon", LON_COLUMNS, "lon_column"),
        ("lat", LAT_COLUMNS, "lat_column"),
    ):
        override = spec.lon_column if axis == "lon" else spec.lat_column
        col = find_column(layer, columns, names, override, option, "")
        if col is None and override is None:
            col = _named_like(layer, columns, axis, spec, option)
        found[axis] = col
    lon_col, lat_col = found["lon"], found["lat"]
    layer.coord_columns = tuple(c for c in (lon_col, lat_col) if c is not None)
    if lon_col is None or lat_col is None:
        return None
    system = _system_from_names(layer, spec, lon_col, lat_col)
    return None if system is None else (lon_col, lat_col, system)


def _named_like(
    layer: Layer, columns: list[str], axis: str, spec: LayerSpec, option: str
) -> str | None:
    """The one column whose name reads as ``axis`` (``经度(GCJ)``, ``lng_bd09`` ...)."""
    zh, en = ("经度", "longitude") if axis == "lon" else ("纬度", "latitude")
    like = [c for c in columns if coordinate_header(c)[0] == axis]
    if len(like) > 1 and (spec.coords_explicit or spec.coords != "wgs84"):
        # several datums side by side: the study's coords picks one
        agree = [c for c in like if coordinate_header(c)[1] == spec.coords]
        like = agree or like
    if len(like) == 1:
        return like[0]
    if like:
        layer.add(
            None,
            None,
            layer.text(
                f"有多个列像是{zh}列 (several columns look like the {en}): "
                f"{list_names(like)}; 请在研究文件的图层表中用 {option} 指定其一 (set {option} "
                "in the layer's table of the study file)",
                f"several columns look like the {en}: {list_names(like)}; set {option} in the "
                "layer's table of the study file",
            ),
        )
        return None
    names = LON_COLUMNS if axis == "lon" else LAT_COLUMNS
    layer.add(
        None,
        None,
        layer.text(
            f"缺少坐标列 (missing coordinate column) {zh} ({en}); 可用列名 (accepted names): "
            f"{', '.join(names)}, 也可带坐标系或单位，如 经度(GCJ)、lng_bd09 (also with a datum "
            f"or unit, e.g. 经度(GCJ), lng_bd09), 或在研究文件的图层表中设置 {option} (or set "
            f"{option} in the layer's table of the study file); 现有列 (columns in the file): "
            f"{list_names(columns)}{layer.note}",
            f"missing coordinate column ({en}); accepted names: {', '.join(names)}, also with "
            f"a datum or unit, e.g. 经度(GCJ), lng_bd09; or set {option} in the layer's table "
            f"of the study file; columns in the file: {list_names(columns)}{layer.note}",
        ),
    )
    return None


def _system_from_names(layer: Layer, spec: LayerSpec, lon_col: str, lat_col: str) -> str | None:
    """The coordinate system: the study's ``coords``, else the one the column names state.

    Records a problem (and returns ``None``) when the two columns state different systems or
    a stated system contradicts an explicit ``coords``; warns when a name decides.
    """
    stated = {col: coordinate_header(col)[1] for col in (lon_col, lat_col)}
    systems = sorted({v for v in stated.values() if v is not None})
    pair = f"{lon_col}/{lat_col}"
    if len(systems) > 1:
        said = (
            f"{lon_col} -> {SYSTEM_NAMES[str(stated[lon_col])]}, "
            f"{lat_col} -> {SYSTEM_NAMES[str(stated[lat_col])]}"
        )
        layer.add(
            None,
            pair,
            layer.text(
                "经度列和纬度列的列名说明的坐标系不同 (the longitude and latitude column names "
                f"state different coordinate systems): {said}; 请改正列名，或设置 "
                "lon_column/lat_column 和 coords (fix the names, or set lon_column/lat_column "
                "and coords)",
                "the longitude and latitude column names state different coordinate systems: "
                f"{said}; fix the names, or set lon_column/lat_column and coords",
            ),
        )
        return None
    explicit = spec.coords_explicit or spec.coords != "wgs84"
    if not systems:
        return spec.coords
    named = systems[0]
    if explicit and named != spec.coords:
        english = (
            f"the column names say {SYSTEM_NAMES[named]} but the study file sets coords = "
            f'"{spec.coords}"'
        )
        fix = (
            "check where the coordinates come from and fix one of them: points picked on "
            "Gaode/Tencent maps are gcj02, Baidu bd09, GPS wgs84"
        )
        layer.add(
            None,
            pair,
            layer.text(
                f'列名表明坐标为 {SYSTEM_NAMES[named]}，但研究文件设置了 coords = "{spec.coords}" '
                f"({english}); 请确认坐标来源后改正其一：在高德/腾讯地图上取的点是 gcj02，百度"
                f"是 bd09，GPS 是 wgs84 ({fix})",
                f"{english}; {fix}",
            ),
        )
        return None
    if not explicit and named != "wgs84":
        said = (
            f"the column names say {SYSTEM_NAMES[named]}; the coordinates were converted from "
            f"{SYSTEM_NAMES[named]} to WGS-84"
        )
        confirm = (
            f'write coords = "{named}" in the layer\'s table of the study file to confirm it, '
            "or the right system if this is wrong"
        )
        warnings.warn(
            layer.text(
                f"{layer.file}: 坐标列 {pair} 的列名表明坐标为 {SYSTEM_NAMES[named]}，已按 "
                f"{SYSTEM_NAMES[named]} 转换为 WGS-84 ({said}); 在研究文件的图层表中写 coords = "
                f'"{named}" 即确认并不再提示，如不对请写实际的坐标系 ({confirm})',
                f"{layer.file}: coordinate columns {pair}: {said}; {confirm}",
            ),
            CoverageWarning,
            stacklevel=2,
        )
    return named


def geo_layer(
    spec: LayerSpec,
    source: RawGeo,
    *,
    shapes: tuple[str, str] | None,
    study_area: tuple[float, float, float, float] | None,
    margin_km: float,
) -> Layer:
    """Check a geo file's CRS and geometries and bring them to WGS-84.

    Parameters
    ----------
    spec
        The file (its ``coords``: GCJ-02/BD-09 numbers stored as EPSG:4326 are converted).
    source
        The features as read.
    shapes
        What the layer holds, in Chinese and English (``("小区", "compounds")``), when it must
        be points or polygons; ``None`` accepts any geometry.
    study_area
        ``(west, south, east, north)``; geometries farther than ``margin_km`` outside are
        problems.
    margin_km
        Tolerance around the study area, in kilometres.

    Returns
    -------
    Layer
        The attributes, ``geometry`` in EPSG:4326 (``None`` where unusable), the problems.

    Raises
    ------
    InputError
        When the file has no features.
    CRSError
        When the file has no CRS or it cannot be converted to WGS-84.
    """
    file = str(spec.path)
    lang = spec.language
    gdf, note = source.frame, source.note
    if len(gdf) == 0:
        fatal(
            file,
            pick(
                f"图层为空 (layer has no rows): 文件中没有要素 (no features){note}",
                f"layer has no rows: no features{note}",
                lang,
            ),
            lang=lang,
        )
    gdf = _in_wgs84(file, gdf, lang)
    geoms = shapely.force_2d(np.asarray(gdf.geometry.array, dtype=object))
    rows = np.arange(1, len(gdf) + 1, dtype=np.int64)
    layer = Layer(file, "geo", gdf, rows, note=note, problems=[], lang=lang)
    ok = _check_geometries(layer, geoms, shapes)
    b = shapely.bounds(geoms)
    ok &= _check_range(layer, b[:, 0], b[:, 1], b[:, 2], b[:, 3], ok, "geometry", geo=True)
    if spec.coords != "wgs84":
        geoms = _convert_vertices(geoms, spec.coords)
        b = shapely.bounds(geoms)
    ok &= _check_area(
        layer, b[:, 0], b[:, 1], b[:, 2], b[:, 3], ok, "geometry", study_area, margin_km
    )
    geoms = np.where(ok, geoms, None)
    layer.data = gpd.GeoDataFrame(
        gdf.drop(columns=gdf.geometry.name), geometry=gpd.GeoSeries(geoms, crs="EPSG:4326")
    )
    return layer


def _in_wgs84(file: str, gdf: gpd.GeoDataFrame, lang: str) -> gpd.GeoDataFrame:
    """The features in EPSG:4326 (RangeIndex); a file without a CRS is an error, not a guess."""
    if gdf.crs is None:
        raise CRSError(
            Problem(
                file,
                pick(
                    "文件没有坐标系信息 (the file has no CRS); 请在 GIS 软件中为其定义正确的坐标"
                    "系，如 EPSG:4326 或 EPSG:4490 (define its CRS in your GIS, e.g. EPSG:4326 or "
                    "CGCS2000 EPSG:4490; a Shapefile needs its .prj file)",
                    "the file has no CRS; define its CRS in your GIS, e.g. EPSG:4326 or "
                    "CGCS2000 EPSG:4490 (a Shapefile needs its .prj file)",
                    lang,
                ),
            ),
            header=problems_header(file, 1, lang=lang),
        )
    crs = CRS.from_user_input(gdf.crs)
    gdf = gdf.reset_index(drop=True)
    if crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return gdf
    try:
        return gdf.to_crs("EPSG:4326")
    except Exception as exc:
        raise CRSError(
            Problem(
                file,
                pick(
                    f"无法把坐标系 {crs.to_string()} 转换为 WGS-84 (cannot convert the file's "
                    f"CRS to WGS-84): {exc}",
                    f"cannot convert the file's CRS {crs.to_string()} to WGS-84: {exc}",
                    lang,
                ),
            ),
            header=problems_header(file, 1, lang=lang),
        ) from None


def _check_geometries(
    layer: Layer, geoms: NDArray[Any], shapes: tuple[str, str] | None
) -> NDArray[np.bool_]:
    """Record empty, unsupported (``shapes``: points or polygons only) and invalid geometries."""
    types = shapely.get_type_id(geoms)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for pos in np.flatnonzero(missing):
        layer.add(
            int(pos),
            "geometry",
            layer.text(
                "几何为空 (empty geometry); 请在 GIS 中补绘或删除该要素 (draw it or delete the "
                "feature in your GIS)",
                "empty geometry; draw it or delete the feature in your GIS",
            ),
        )
    ok = ~missing
    if shapes is not None:
        single = (types == _MULTIPOINT) & (shapely.get_num_geometries(geoms) == 1)
        allowed = np.isin(types, [_POINT, _POLYGON, _MULTIPOLYGON]) | single
        for pos in np.flatnonzero(ok & ~allowed):
            type_name = geoms[pos].geom_type
            layer.add(
                int(pos),
                "geometry",
                layer.text(
                    f"几何类型不支持 (unsupported geometry type) {type_name}; {shapes[0]}须为点或"
                    f"面 ({shapes[1]} must be points or polygons)",
                    f"unsupported geometry type {type_name}; {shapes[1]} must be points or "
                    "polygons",
                ),
            )
        ok &= allowed
    invalid = ok & ~shapely.is_valid(geoms)
    for pos in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geoms[pos])
        layer.add(
            int(pos),
            "geometry",
            layer.text(
                f"几何无效 (invalid geometry): {reason}; 请在 GIS 中修复（如 QGIS“修复几何”）或用 "
                "shapely.make_valid 修复 (fix it in your GIS, e.g. QGIS 'Fix geometries', or "
                "with shapely.make_valid)",
                f"invalid geometry: {reason}; fix it in your GIS (e.g. QGIS 'Fix geometries') "
                "or with shapely.make_valid",
            ),
        )
    return ok & ~invalid


def to_points(geometry: Any) -> NDArray[Any]:
    """Points stay, one-point MultiPoints unwrap, polygons become representative points.

    Parameters
    ----------
    geometry
        WGS-84 geometries (points, one-point MultiPoints, polygons).

    Returns
    -------
    numpy.ndarray
        WGS-84 points; a polygon's representative point is computed in its local UTM zone.
    """
    geoms = np.asarray(geometry, dtype=object)
    types = shapely.get_type_id(geoms)
    out = geoms.copy()
    multi = types == _MULTIPOINT
    out[multi] = shapely.get_geometry(geoms[multi], 0)
    poly = (types == _POLYGON) | (types == _MULTIPOLYGON)
    if poly.any():
        b = shapely.bounds(geoms[poly])
        utm = utm_crs_for(b[:, [0, 2]], b[:, [1, 3]])
        reps = gpd.GeoSeries(geoms[poly], crs="EPSG:4326").to_crs(utm).representative_point()
        out[poly] = np.asarray(reps.to_crs("EPSG:4326").array, dtype=object)
    return out


def _convert_vertices(geoms: NDArray[Any], system: str) -> NDArray[Any]:
    def convert(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = to_wgs84(xy[:, 0], xy[:, 1], system=system)
        return np.column_stack([x, y])

    return np.asarray(shapely.transform(geoms, convert), dtype=object)


def _check_range(
    layer: Layer,
    xmin: NDArray[np.float64],
    ymin: NDArray[np.float64],
    xmax: NDArray[np.float64],
    ymax: NDArray[np.float64],
    ok: NDArray[np.bool_],
    column: str,
    *,
    geo: bool,
) -> NDArray[np.bool_]:
    """Flag coordinates outside -180..180 / -90..90; say so when they look swapped."""
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(xmin) & np.isfinite(ymin) & np.isfinite(xmax) & np.isfinite(ymax)
        in_range = finite & (xmin >= -180) & (xmax <= 180) & (ymin >= -90) & (ymax <= 90)
        swap_ok = finite & (ymin >= -180) & (ymax <= 180) & (xmin >= -90) & (xmax <= 90)
    cx = (xmin + xmax) / 2
    cy = (ymin + ymax) / 2
    for pos in np.flatnonzero(ok & ~in_range):
        where = f"lon={cx[pos]:.6g}, lat={cy[pos]:.6g}"
        if swap_ok[pos]:
            layer.add(int(pos), column, _swapped(layer, where, geo))
            continue
        hint = (
            layer.text(
                "文件的坐标系 (CRS) 可能标错了 (the file's CRS may be wrong)",
                "the file's CRS may be wrong",
            )
            if geo
            else layer.text(
                "如为投影坐标请先转换为经纬度 (projected coordinates must be converted to "
                "longitude/latitude first)",
                "projected coordinates must be converted to longitude/latitude first",
            )
        )
        layer.add(
            int(pos),
            column,
            layer.text(
                f"坐标超出经纬度范围 (coordinates out of range): {where}; 经度应在 -180~180、纬度"
                f"在 -90~90 之间 (longitude must be within -180..180 and latitude within "
                f"-90..90); {hint}",
                f"coordinates out of range: {where}; longitude must be within -180..180 and "
                f"latitude within -90..90; {hint}",
            ),
        )
    return in_range


def _swapped(layer: Layer, where: str, geo: bool) -> str:
    if geo:
        fix = layer.text(
            "请在 GIS 中交换 X/Y 坐标 (swap the x/y coordinates in your GIS)",
            "swap the x/y coordinates in your GIS",
        )
    else:
        fix = layer.text(
            "请交换经度列和纬度列 (swap the longitude and latitude columns)",
            "swap the longitude and latitude columns",
        )
    return layer.text(
        f"经纬度可能填反了 (longitude and latitude look swapped): {where}; {fix}",
        f"longitude and latitude look swapped: {where}; {fix}",
    )


def _check_area(
    layer: Layer,
    xmin: NDArray[np.float64],
    ymin: NDArray[np.float64],
    xmax: NDArray[np.float64],
    ymax: NDArray[np.float64],
    ok: NDArray[np.bool_],
    column: str,
    study_area: tuple[float, float, float, float] | None,
    margin_km: float,
) -> NDArray[np.bool_]:
    """Flag geometries farther than ``margin_km`` outside the study-area bounding box."""
    if study_area is None:
        return np.ones(len(xmin), dtype=bool)
    w, s, e, n = (float(v) for v in study_area)
    if not (w < e and s < n):
        raise ValueError(f"study_area must be (west, south, east, north), got {study_area}")
    dlat = margin_km / _KM_PER_DEG
    dlon = margin_km / (_KM_PER_DEG * max(math.cos(math.radians((s + n) / 2)), 0.01))
    w, s, e, n = w - dlon, s - dlat, e + dlon, n + dlat

    def inside(
        x0: NDArray[np.float64],
        y0: NDArray[np.float64],
        x1: NDArray[np.float64],
        y1: NDArray[np.float64],
    ) -> NDArray[np.bool_]:
        with np.errstate(invalid="ignore"):
            return (x1 >= w) & (x0 <= e) & (y1 >= s) & (y0 <= n)

    inner = inside(xmin, ymin, xmax, ymax)
    swapped = inside(ymin, xmin, ymax, xmax)
    area = f"{study_area[0]:g}, {study_area[1]:g}, {study_area[2]:g}, {study_area[3]:g}"
    for pos in np.flatnonzero(ok & ~inner):
        where = f"lon={(xmin[pos] + xmax[pos]) / 2:.6f}, lat={(ymin[pos] + ymax[pos]) / 2:.6f}"
        if swapped[pos]:
            layer.add(int(pos), column, _swapped(layer, where, layer.kind == "geo"))
            continue
        layer.add(
            int(pos),
            column,
            layer.text(
                f"位置在研究范围之外 (outside the study area): {where}，超出研究范围 "
                f"{margin_km:g} km 以上 (more than {margin_km:g} km outside the study area "
                f"{area}); 请检查坐标及其坐标系设置 coords = wgs84/gcj02/bd09 (check the "
                "coordinates and the coords setting)",
                f"outside the study area: {where}, more than {margin_km:g} km outside the "
                f"study area {area}; check the coordinates and the coords setting "
                "(coords = wgs84/gcj02/bd09)",
            ),
        )
    return inner
