"""Reading and validating the layer files planners have: compounds, stations, candidate sites.

Formats
-------
* **GeoJSON, GeoPackage, Shapefile** and other GDAL vector formats are read with pyogrio.
  ``LayerSpec.layer`` picks a GeoPackage layer (the first one is used, and logged, when it is
  not given). A Shapefile's ``.cpg`` is honoured; without one the ``.dbf`` is decoded as
  UTF-8 when its bytes are valid UTF-8 and as GB18030 (a superset of GBK) otherwise, because
  Chinese GIS software commonly writes GBK ``.dbf`` files without a ``.cpg``.
  ``LayerSpec.encoding`` overrides both.
* **GeoParquet** is read with geopandas; a plain Parquet file without geo metadata is read
  as a table with coordinate columns, like a CSV.
* **CSV** (any of ``, ; tab |`` as separator) is decoded as UTF-8 (with or without BOM), then
  as GB18030 (Excel in China saves "CSV" as GBK), unless ``LayerSpec.encoding`` says otherwise.
  **XLSX** is read with openpyxl (``LayerSpec.layer`` is the sheet name; default the first
  sheet). Old ``.xls`` files must be saved as ``.xlsx`` first.

Coordinates
-----------
Everything returned is WGS-84 (EPSG:4326). A geo file must carry a CRS: a file without one is
a :class:`~coverage.errors.CRSError`, never a guess (note that GeoJSON is WGS-84 by
definition). Tables need a longitude column (``lon``, ``lng``, ``longitude``, ``x``, ``经度``
or ``东经``) and a latitude column (``lat``, ``latitude``, ``y``, ``纬度`` or ``北纬``),
matched case-insensitively, in decimal degrees. ``LayerSpec.coords`` (``"wgs84"``,
``"gcj02"`` or ``"bd09"``) says which system the numbers are in; for a geo file a value other
than ``"wgs84"`` means that the numbers stored as EPSG:4326 are really GCJ-02/BD-09 (typical of
data digitised on AMap or Baidu), and every vertex is converted.

Validation
----------
Every problem in a file is collected, then one :class:`~coverage.errors.InputError` is
raised listing all of them, each naming the file, the row and the column, and saying how to
fix it (Chinese first, then English). Problems that stop reading altogether (file not found,
unreadable format, empty file, no CRS) are raised at once.

**Row numbers are 1-based data rows**: for CSV/XLSX, row 1 is the first row below the header
row (in a spreadsheet whose header is on line 1, row N is on line N + 1; when title lines sit
above the header or cells span several lines, the message also gives the sheet line). For geo
files, row N is the N-th feature in the file's order.

The checks: missing required columns (households for compounds), missing coordinate columns,
empty or non-numeric coordinates, coordinates out of range (|lon| > 180, |lat| > 90),
longitude and latitude swapped (a latitude beyond 90 degrees that would be valid as a
longitude, or, with a study area, a point outside the area that swapping would put inside),
points more than ``margin_km`` outside the study-area bounding box, empty ids, duplicate ids
(every row of a duplicate names the others), empty, invalid (``shapely.is_valid``) or
unsupported geometries, and empty, non-numeric, NaN or negative households or capacities.
Several stations at exactly the same point are not an error; they raise a
:class:`~coverage.errors.CoverageWarning` naming the rows. Input files are only ever read.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from numpy.typing import NDArray
from pyproj import CRS

from coverage._validate import id_issues
from coverage.config import LayerSpec
from coverage.coords import to_wgs84, utm_crs_for
from coverage.errors import CoverageWarning, CRSError, InputError, Problem

__all__ = [
    "LAT_COLUMNS",
    "LON_COLUMNS",
    "load_candidates",
    "load_compounds",
    "load_stations",
    "read_layer",
]

logger = logging.getLogger(__name__)

LON_COLUMNS = ("lon", "lng", "longitude", "x", "经度", "东经")
LAT_COLUMNS = ("lat", "latitude", "y", "纬度", "北纬")
_HOUSEHOLD_COLUMNS = ("households", "户数", "住户数", "总户数", "hh")
_CAPACITY_COLUMNS = ("capacity", "容量", "服务户数上限")

_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_PARQUET_SUFFIXES = {".parquet", ".geoparquet"}
_FORMATS = "GeoJSON, GeoPackage, Shapefile, GeoParquet, CSV, XLSX"
_KM_PER_DEG = 111.32

# shapely geometry type ids
_POINT, _POLYGON, _MULTIPOINT, _MULTIPOLYGON = 0, 3, 4, 6


@dataclass(frozen=True)
class _Role:
    """What a layer holds and how its columns are named."""

    key: str
    zh: str
    en: str
    id_out: str
    id_names: tuple[str, ...]
    name_names: tuple[str, ...]
    keep_polygons: bool


_LAYER = _Role("layer", "图层", "layers", "id", ("id",), ("name",), True)
_COMPOUNDS = _Role(
    "compounds",
    "小区",
    "compounds",
    "compound_id",
    ("compound_id", "id", "编号", "小区编号", "代码", "code"),
    ("name", "名称", "小区名称", "小区名"),
    True,
)
_STATIONS = _Role(
    "stations",
    "站点",
    "stations",
    "station_id",
    ("station_id", "id", "编号", "站点编号", "代码", "code"),
    ("name", "名称", "站点名称", "站名"),
    False,
)
_CANDIDATES = _Role(
    "candidates",
    "候选点",
    "candidate sites",
    "candidate_id",
    ("candidate_id", "id", "编号", "候选点编号", "代码", "code"),
    ("name", "名称", "候选点名称"),
    False,
)
_ROLES = {r.key: r for r in (_LAYER, _COMPOUNDS, _STATIONS, _CANDIDATES)}
_KNOWN_HEADERS = frozenset(
    n.lower()
    for r in _ROLES.values()
    for n in (*r.id_names, *r.name_names)
    if n not in ("id", "name")
).union(
    n.lower()
    for n in (*LON_COLUMNS, *LAT_COLUMNS, *_HOUSEHOLD_COLUMNS, *_CAPACITY_COLUMNS, "id", "name")
)


@dataclass
class _Layer:
    """A layer as read, before the role-specific checks."""

    file: str
    kind: str  # "table" or "geo"
    data: gpd.GeoDataFrame  # RangeIndex, attributes + geometry (EPSG:4326, None where unusable)
    rows: NDArray[np.int64]  # 1-based data row / feature number of each row of ``data``
    lines: NDArray[np.int64] | None = None  # sheet line of each row (tables)
    coord_columns: tuple[str, ...] = ()
    note: str = ""  # which sheet/layer was read, when the file has several
    problems: list[Problem] = field(default_factory=list)

    def add(self, row_pos: int | None, column: str | None, message: str) -> None:
        """Record a problem for the row at position ``row_pos`` of ``data``."""
        row = None
        if row_pos is not None:
            row = int(self.rows[row_pos])
            if self.lines is not None and int(self.lines[row_pos]) != row + 1:
                message = f"{message} (表格第 {self.lines[row_pos]} 行 / sheet line "
                message += f"{self.lines[row_pos]})"
        self.problems.append(Problem(self.file, message, row=row, column=column))


# --------------------------------------------------------------------------------------------
# public API


def read_layer(spec: LayerSpec, *, role: str = "layer") -> gpd.GeoDataFrame:
    """Read a layer file into a WGS-84 GeoDataFrame, checking its coordinates and geometry.

    Parameters
    ----------
    spec
        The file and how to read it (layer/sheet, coordinate system, encoding).
    role
        ``"layer"`` (any geometry) or ``"compounds"``, ``"stations"``, ``"candidates"``
        (points or polygons; used in messages).

    Returns
    -------
    geopandas.GeoDataFrame
        All attribute columns as read (coordinate columns of a table are dropped: the
        geometry holds them, converted to WGS-84), ``geometry`` in EPSG:4326, RangeIndex.

    Raises
    ------
    InputError
        Listing every problem found (file not found, unreadable, empty, missing or bad
        coordinates, invalid geometries).
    CRSError
        If a geo file has no CRS or its CRS cannot be converted to WGS-84.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "sites.csv"
    >>> _ = p.write_text("名称,经度,纬度\\n池州站,117.49,30.66\\n", encoding="utf-8")
    >>> read_layer(LayerSpec(path=p)).geometry.iloc[0].wkt
    'POINT (117.49 30.66)'
    """
    r = _role(role)
    layer = _read(spec, r, study_area=None, margin_km=0.0)
    _raise_if(layer)
    out = layer.data.drop(columns=list(layer.coord_columns))
    if layer.kind == "table":
        out = gpd.GeoDataFrame(_infer_columns(out.drop(columns="geometry")), geometry=out.geometry)
    logger.info("read %d rows from %s", len(out), layer.file)
    return out


def load_compounds(
    spec: LayerSpec,
    *,
    study_area: tuple[float, float, float, float] | None = None,
    margin_km: float = 5.0,
) -> gpd.GeoDataFrame:
    """Read and validate the compounds (小区) layer.

    Parameters
    ----------
    spec
        The file; ``id_column``, ``name_column`` and ``households_column`` override the
        automatic column detection (id: ``compound_id``, ``id``, ``编号``, ``小区编号``,
        ``代码``, ``code``; name: ``name``, ``名称``, ``小区名称``, ``小区名``; households:
        ``households``, ``户数``, ``住户数``, ``总户数``, ``hh``; all case-insensitive).
    study_area
        ``(west, south, east, north)`` in WGS-84 degrees; compounds farther than
        ``margin_km`` outside it are errors. ``None`` skips the check.
    margin_km
        Tolerance around the study area, in kilometres.

    Returns
    -------
    geopandas.GeoDataFrame
        ``compound_id`` (str, unique; ``"<file stem>-<row>"`` when the file has no id
        column), ``name`` (str; the id when missing), ``households`` (float64 >= 0),
        ``households_source`` (``"given"``), the file's other columns, ``geometry`` (Point,
        Polygon or MultiPolygon, EPSG:4326).

    Raises
    ------
    InputError
        Listing every problem in the file; a households column is required.
    CRSError
        If a geo file has no CRS.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "xq.csv"
    >>> _ = p.write_text("编号,名称,户数,经度,纬度\\nA1,秀山小区,320,117.49,30.66\\n")
    >>> load_compounds(LayerSpec(path=p))[["compound_id", "name", "households"]].values.tolist()
    [['A1', '秀山小区', 320.0]]
    """
    return _load(spec, _COMPOUNDS, study_area=study_area, margin_km=margin_km)


def load_stations(
    spec: LayerSpec,
    *,
    service: str,
    study_area: tuple[float, float, float, float] | None = None,
    margin_km: float = 5.0,
) -> gpd.GeoDataFrame:
    """Read and validate one service's station layer.

    Parameters
    ----------
    spec
        The file; ``id_column``, ``name_column`` and ``capacity_column`` override the
        automatic detection (id: ``station_id``, ``id``, ``编号``, ``站点编号``, ``代码``,
        ``code``; name: ``name``, ``名称``, ``站点名称``, ``站名``; capacity: ``capacity``,
        ``容量``, ``服务户数上限``).
    service
        The service key stored in the ``service`` column.
    study_area
        ``(west, south, east, north)`` in WGS-84 degrees, or ``None``.
    margin_km
        Tolerance around the study area, in kilometres.

    Returns
    -------
    geopandas.GeoDataFrame
        ``station_id`` (str, unique), ``name``, ``service``, ``capacity`` (float64, NaN =
        no limit), the file's other columns, ``geometry`` (Point, EPSG:4326; a polygon is
        reduced to its representative point, computed in the local UTM zone).

    Raises
    ------
    InputError
        Listing every problem, including an empty layer.
    CRSError
        If a geo file has no CRS.

    Warns
    -----
    CoverageWarning
        When several stations share exactly the same location (rows named).
    """
    return _load(spec, _STATIONS, study_area=study_area, margin_km=margin_km, service=service)


def load_candidates(
    spec: LayerSpec,
    *,
    study_area: tuple[float, float, float, float] | None = None,
    margin_km: float = 5.0,
) -> gpd.GeoDataFrame:
    """Read and validate candidate sites for new stations.

    Parameters
    ----------
    spec
        The file; column detection as for :func:`load_stations` (id also
        ``candidate_id``, ``候选点编号``).
    study_area
        ``(west, south, east, north)`` in WGS-84 degrees, or ``None``.
    margin_km
        Tolerance around the study area, in kilometres.

    Returns
    -------
    geopandas.GeoDataFrame
        ``candidate_id`` (str, unique), ``name``, ``capacity`` (float64, NaN = no limit),
        the file's other columns, ``geometry`` (Point, EPSG:4326).

    Raises
    ------
    InputError
        Listing every problem.
    CRSError
        If a geo file has no CRS.
    """
    return _load(spec, _CANDIDATES, study_area=study_area, margin_km=margin_km)


# --------------------------------------------------------------------------------------------
# loading with role-specific checks


def _role(role: str) -> _Role:
    if role not in _ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(_ROLES)}")
    return _ROLES[role]


def _load(
    spec: LayerSpec,
    role: _Role,
    *,
    study_area: tuple[float, float, float, float] | None,
    margin_km: float,
    service: str | None = None,
) -> gpd.GeoDataFrame:
    layer = _read(spec, role, study_area=study_area, margin_km=margin_km)
    data = layer.data
    columns = [c for c in data.columns if c != "geometry" and c not in layer.coord_columns]
    used: set[str] = set(layer.coord_columns)

    id_col = _find_column(layer, columns, role.id_names, spec.id_column, "id_column", "编号/id")
    name_col = _find_column(
        layer, columns, role.name_names, spec.name_column, "name_column", "名称/name"
    )
    used.update(c for c in (id_col, name_col) if c is not None)

    n = len(data)
    if id_col is not None:
        ids = _texts(data[id_col])
        for pos, message in id_issues(ids, rows=layer.rows):
            layer.add(pos, id_col, message)
    else:
        stem = Path(spec.path).stem
        ids = np.array([f"{stem}-{r}" for r in layer.rows], dtype=object)
        if spec.id_column is None:
            logger.info(
                "%s: no id column (%s); using ids %s-<row>",
                layer.file,
                ", ".join(role.id_names),
                stem,
            )
    names = _texts(data[name_col]) if name_col is not None else ids.copy()
    names = np.where(names == "", ids, names)

    out: dict[str, Any] = {role.id_out: ids, "name": names}
    if role is _COMPOUNDS:
        hh_col = _find_column(
            layer,
            columns,
            _HOUSEHOLD_COLUMNS,
            spec.households_column,
            "households_column",
            "户数/households",
            required=True,
        )
        households = np.full(n, np.nan)
        if hh_col is not None:
            used.add(hh_col)
            households = _check_amounts(layer, data[hh_col], hh_col, "户数", "households")
        out["households"] = households
        # keep a file's own households_source ("estimated" from a derived layer); else given
        source = np.full(n, "given", dtype=object)
        if "households_source" in columns:
            used.add("households_source")
            own = data["households_source"].astype("string").str.strip().str.lower()
            source = np.where(own.isin(["estimated"]).fillna(False), "estimated", source)
        out["households_source"] = source
    else:
        cap_col = _find_column(
            layer,
            columns,
            _CAPACITY_COLUMNS,
            spec.capacity_column,
            "capacity_column",
            "容量/capacity",
        )
        capacity = np.full(n, np.nan)
        if cap_col is not None:
            used.add(cap_col)
            capacity = _check_amounts(
                layer, data[cap_col], cap_col, "容量", "capacity", allow_empty=True
            )
        if service is not None:
            out["service"] = service
        out["capacity"] = capacity

    _raise_if(layer)

    geometry = np.asarray(data.geometry.array, dtype=object)
    if not role.keep_polygons:
        geometry = _to_points(geometry)
        if role is _STATIONS:
            _warn_duplicate_points(layer, geometry, ids)
    frame = pd.DataFrame(out)
    extras = [c for c in columns if c not in used]
    clash = [c for c in extras if c in frame.columns]
    if clash:
        logger.info("%s: dropping columns %s (their names are output columns)", layer.file, clash)
    extra = data[[c for c in extras if c not in frame.columns]]
    if layer.kind == "table":
        extra = _infer_columns(extra)
    frame = pd.concat([frame, extra.reset_index(drop=True)], axis=1)
    result = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs="EPSG:4326"))
    logger.info("read %d %s from %s", len(result), role.key, layer.file)
    return result


def _find_column(
    layer: _Layer,
    columns: Sequence[str],
    names: Sequence[str],
    override: str | None,
    option: str,
    what: str,
    *,
    required: bool = False,
) -> str | None:
    """Find a column by override or by candidate names (case-insensitive, trimmed)."""
    lowered = {str(c).strip().lower(): c for c in reversed(columns)}
    if override is not None:
        if override in columns:
            return override
        if override.strip().lower() in lowered:
            return lowered[override.strip().lower()]
        layer.add(
            None,
            override,
            f"找不到指定的列 (column not found) {override!r}，它由 {option} 指定 (set as "
            f"{option}); 现有列 (columns in the file): {_list(columns)}{layer.note}",
        )
        return None
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    if required:
        layer.add(
            None,
            None,
            f"缺少必需列 (missing required column) {what}; 请添加一列，列名用 (add a column "
            f"named one of): {', '.join(names)}, 或在研究配置中设置 {option} (or set "
            f"{option} in the study file); 现有列 (columns in the file): {_list(columns)}"
            f"{layer.note}",
        )
    return None


def _check_amounts(
    layer: _Layer,
    values: pd.Series,
    column: str,
    zh: str,
    en: str,
    *,
    allow_empty: bool = False,
) -> NDArray[np.float64]:
    """Parse a households/capacity column; record empty, non-numeric and negative values."""
    numbers, empty, bad = _numbers(values, thousands=True)
    raw = values.to_numpy(dtype=object)
    if not allow_empty:
        for pos in np.flatnonzero(empty):
            layer.add(
                int(pos),
                column,
                f"{zh}为空 ({en} is empty); 请填写{zh}，为非负数字 (enter the {en}, a number >= 0)",
            )
    for pos in np.flatnonzero(bad):
        layer.add(
            int(pos),
            column,
            f"{zh}不是有效数字 ({en} is not a valid number): {_show(raw[pos])}; "
            f"请填写非负数字，如 120 (enter a number >= 0 such as 120)",
        )
    for pos in np.flatnonzero(numbers < 0):
        layer.add(
            int(pos),
            column,
            f"{zh}为负数 ({en} is negative): {_show(raw[pos])}; "
            "请填写非负数字 (enter a number >= 0)",
        )
    return np.where(empty | bad, np.nan, numbers)


def _to_points(geometry: Any) -> NDArray[Any]:
    """Points stay, one-point MultiPoints unwrap, polygons become representative points."""
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


def _warn_duplicate_points(layer: _Layer, points: NDArray[Any], ids: NDArray[Any]) -> None:
    xy = pd.DataFrame({"x": shapely.get_x(points), "y": shapely.get_y(points)})
    dup = xy.duplicated(keep=False)
    if not dup.any():
        return
    groups = []
    for positions in xy[dup].groupby(["x", "y"]).indices.values():
        pos = xy[dup].index[positions]
        rows = ", ".join(f"row {layer.rows[p]} ({ids[p]})" for p in pos)
        groups.append(f"{rows} at lon={xy.x[pos[0]]:.6f}, lat={xy.y[pos[0]]:.6f}")
    warnings.warn(
        f"{layer.file}: 多个站点位于同一位置 (several stations share one location): "
        + "; ".join(groups)
        + ". 如为同一站点请合并 (merge them if they are the same station)",
        CoverageWarning,
        stacklevel=4,
    )


# --------------------------------------------------------------------------------------------
# reading (format detection, geometry and coordinate checks)


def _read(
    spec: LayerSpec,
    role: _Role,
    *,
    study_area: tuple[float, float, float, float] | None,
    margin_km: float,
) -> _Layer:
    path = Path(spec.path)
    file = str(spec.path)
    if not path.exists():
        _fatal(file, "文件不存在 (file not found); 请检查路径 (check the path)")
    if path.is_file() and path.stat().st_size == 0:
        _fatal(file, "文件为空 (file is empty); 请检查导出是否成功 (check that the data was saved)")
    suffix = path.suffix.lower()
    if suffix == ".xls":
        _fatal(
            file,
            "不支持旧版 .xls 文件 (old .xls workbooks are not supported); 请在 Excel 或 WPS 中"
            "另存为 .xlsx (save it as .xlsx)",
        )
    if suffix in _CSV_SUFFIXES or suffix in _EXCEL_SUFFIXES:
        grid, lines, note = _read_csv(spec) if suffix in _CSV_SUFFIXES else _read_xlsx(spec)
        return _table_layer(spec, role, grid, lines, note, study_area, margin_km)
    if suffix in _PARQUET_SUFFIXES:
        try:
            gdf = gpd.read_parquet(path)
        except ValueError as exc:
            if "geo metadata" not in str(exc):
                _fatal(file, _unreadable(exc))
            df = _guard(file, lambda: pd.read_parquet(path))
            grid = [list(df.columns), *df.astype(object).to_numpy().tolist()]
            lines = list(range(1, len(grid) + 1))
            return _table_layer(spec, role, grid, lines, "", study_area, margin_km)
        except Exception as exc:
            _fatal(file, _unreadable(exc))
        return _geo_layer(spec, role, gdf, "", study_area, margin_km)
    gdf, note = _read_vector(spec)
    return _geo_layer(spec, role, gdf, note, study_area, margin_km)


def _guard(file: str, read: Any) -> Any:
    try:
        return read()
    except Exception as exc:
        _fatal(file, _unreadable(exc))


def _unreadable(exc: BaseException) -> str:
    return (
        f"无法读取该文件 (cannot read this file): {exc}; 请确认文件完整且格式受支持 (check that "
        f"the file is complete and in a supported format: {_FORMATS})"
    )


def _read_vector(spec: LayerSpec) -> tuple[gpd.GeoDataFrame, str]:
    path = Path(spec.path)
    file = str(spec.path)
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:
        _fatal(file, _unreadable(exc))
    layer = spec.layer
    note = ""
    if layer is not None and layer not in layers:
        _fatal(
            file,
            f"找不到图层 (layer not found) {layer!r}; 文件中的图层 (layers in the file): "
            f"{_list(layers)}",
        )
    if layer is None and len(layers) > 1:
        layer = layers[0]
        note = f" (读取了第一个图层 / read the first layer {layer!r} of {_list(layers)})"
        logger.info("%s has %d layers; reading the first, %r", file, len(layers), layer)
    encoding = None  # other formats declare their encoding (GeoJSON, GeoPackage: UTF-8)
    if path.suffix.lower() in (".shp", ".dbf"):
        encoding = spec.encoding or _shapefile_encoding(path)
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except Exception as exc:
        _fatal(file, _unreadable(exc))
    return gdf, note


def _sibling(path: Path, suffix: str) -> Path | None:
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.exists():
            return candidate
    return None


def _shapefile_encoding(path: Path) -> str | None:
    """Encoding for a Shapefile's .dbf: None (GDAL decides) when a .cpg exists."""
    if _sibling(path, ".cpg") is not None:
        return None
    dbf = _sibling(path, ".dbf")
    if dbf is None:
        return None
    data = dbf.read_bytes()
    if len(data) < 32:
        return None
    header_len = int.from_bytes(data[8:10], "little")
    names = [data[i : i + 11] for i in range(32, max(32, header_len - 1), 32)]
    text = b"".join(n.split(b"\0", 1)[0] for n in names) + data[header_len:]
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        logger.info("%s: no .cpg and the .dbf is not UTF-8; decoding it as GBK (GB18030)", dbf)
        return "GB18030"
    return "UTF-8"


def _read_csv(spec: LayerSpec) -> tuple[list[list[Any]], list[int], str]:
    file = str(spec.path)
    raw = Path(spec.path).read_bytes()
    if not raw.strip():
        _fatal(file, "文件为空 (file is empty); 请检查导出是否成功 (check that the data was saved)")
    encodings = [spec.encoding] if spec.encoding else ["utf-8-sig", "gb18030"]
    text = None
    for enc in encodings:
        try:
            text = raw.decode(enc)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    if text is None:
        _fatal(
            file,
            f"无法识别文本编码 (cannot decode the text; tried {', '.join(encodings)}); 请另存为 "
            "UTF-8 编码的 CSV (save it as CSV UTF-8), 或在研究配置中设置 encoding (or set "
            "encoding in the study file)",
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    sep = max([",", "\t", ";", "|"], key=first.count) if first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    grid: list[list[Any]] = []
    lines: list[int] = []
    start = 1
    try:
        for cells in reader:
            grid.append(cells)
            lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        _fatal(file, f"CSV 格式错误 (malformed CSV) near line {reader.line_num}: {exc}")
    return grid, lines, ""


def _read_xlsx(spec: LayerSpec) -> tuple[list[list[Any]], list[int], str]:
    import openpyxl

    file = str(spec.path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # openpyxl: unsupported extensions
            wb = openpyxl.load_workbook(spec.path, read_only=True, data_only=True)
    except Exception as exc:
        _fatal(file, _unreadable(exc))
    try:
        names = list(wb.sheetnames)
        note = ""
        if spec.layer is not None:
            if spec.layer not in names:
                _fatal(
                    file,
                    f"找不到工作表 (sheet not found) {spec.layer!r}; 工作表有 (sheets in the "
                    f"file): {_list(names)}",
                )
            ws = wb[spec.layer]
        else:
            ws = wb.worksheets[0]
            if len(names) > 1:
                note = (
                    f" (读取了第一个工作表 / read the first sheet {names[0]!r} of {_list(names)})"
                )
        if hasattr(ws, "reset_dimensions"):  # read-only sheets may carry a wrong size record
            ws.reset_dimensions()
        grid = [list(r) for r in ws.iter_rows(min_row=1, values_only=True)]
    finally:
        wb.close()
    return grid, list(range(1, len(grid) + 1)), note


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and math.isnan(value)


def _table_layer(
    spec: LayerSpec,
    role: _Role,
    grid: list[list[Any]],
    lines: list[int],
    note: str,
    study_area: tuple[float, float, float, float] | None,
    margin_km: float,
) -> _Layer:
    file = str(spec.path)
    filled = [i for i, r in enumerate(grid) if not all(_is_blank(v) for v in r)]
    if not filled:
        _fatal(file, "文件为空 (file is empty); 请检查导出是否成功 (check that the data was saved)")
    # the header is the first row naming a known column (title lines may sit above it)
    header_at = next(
        (
            i
            for i in filled[:20]
            if any(isinstance(v, str) and v.strip().lower() in _KNOWN_HEADERS for v in grid[i])
        ),
        filled[0],
    )
    header = _header_names(grid[header_at])
    width = len(header)
    body = [i for i in filled if i > header_at]
    rows = np.array([i - header_at for i in body], dtype=np.int64)
    cells = [(list(grid[i]) + [None] * width)[:width] for i in body]
    df = pd.DataFrame(cells, columns=header, dtype=object)
    empty_gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([None] * len(df), crs="EPSG:4326"))
    layer = _Layer(
        file,
        "table",
        empty_gdf,
        rows,
        lines=np.array([lines[i] for i in body], dtype=np.int64),
        note=note,
    )
    for k, i in enumerate(body):
        extra = [v for v in grid[i][width:] if not _is_blank(v)]
        if extra:
            layer.add(
                k,
                None,
                f"该行的单元格多于表头列数 (more cells than header columns): {_show(extra[0])}; "
                "请检查分隔符或补全表头 (check the separators or name the column)",
            )
    if not body:
        _fatal(file, f"图层为空 (layer has no rows): 只有表头 (only a header){note}")

    columns = list(df.columns)
    lon_col = _find_column(layer, columns, LON_COLUMNS, None, "", "经度/longitude")
    lat_col = _find_column(layer, columns, LAT_COLUMNS, None, "", "纬度/latitude")
    for col, what, names in (
        (lon_col, "经度 (longitude)", LON_COLUMNS),
        (lat_col, "纬度 (latitude)", LAT_COLUMNS),
    ):
        if col is None:
            layer.add(
                None,
                None,
                f"缺少坐标列 (missing coordinate column) {what}; 可用列名 (accepted names): "
                f"{', '.join(names)}; 现有列 (columns in the file): {_list(columns)}{note}",
            )
    if lon_col is None or lat_col is None:
        layer.coord_columns = tuple(c for c in (lon_col, lat_col) if c is not None)
        return layer
    layer.coord_columns = (lon_col, lat_col)

    lon, lon_empty, lon_bad = _numbers(df[lon_col])
    lat, lat_empty, lat_bad = _numbers(df[lat_col])
    for col, values, empty, bad in (
        (lon_col, df[lon_col], lon_empty, lon_bad),
        (lat_col, df[lat_col], lat_empty, lat_bad),
    ):
        raw = values.to_numpy(dtype=object)
        for pos in np.flatnonzero(empty):
            layer.add(int(pos), col, "坐标为空 (empty coordinate); 请填写经纬度 (fill it in)")
        for pos in np.flatnonzero(bad):
            layer.add(
                int(pos),
                col,
                f"坐标不是数字 (coordinate is not a number): {_show(raw[pos])}; 请使用十进制度，"
                "如 117.49 (use decimal degrees such as 117.49)",
            )
    ok = ~(lon_empty | lon_bad | lat_empty | lat_bad)
    both = f"{lon_col}/{lat_col}"
    ok &= _check_range(layer, lon, lat, lon, lat, ok, both, geo=False)
    x, y = to_wgs84(lon, lat, system=spec.coords)
    ok &= _check_area(layer, x, y, x, y, ok, both, study_area, margin_km)
    points = np.full(len(df), None, dtype=object)
    points[ok] = shapely.points(x[ok], y[ok])
    layer.data = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(points, crs="EPSG:4326"))
    return layer


def _header_names(cells: Sequence[Any]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for j, v in enumerate(cells):
        name = str(v).strip() if not _is_blank(v) else f"column_{j + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        names.append(name)
    return names


def _geo_layer(
    spec: LayerSpec,
    role: _Role,
    gdf: gpd.GeoDataFrame,
    note: str,
    study_area: tuple[float, float, float, float] | None,
    margin_km: float,
) -> _Layer:
    file = str(spec.path)
    if len(gdf) == 0:
        _fatal(file, f"图层为空 (layer has no rows): 文件中没有要素 (no features){note}")
    if gdf.crs is None:
        raise CRSError(
            Problem(
                file,
                "文件没有坐标系信息 (the file has no CRS); 请在 GIS 软件中为其定义正确的坐标系，"
                "如 EPSG:4326 或 EPSG:4490 (define its CRS in your GIS, e.g. EPSG:4326 or "
                "CGCS2000 EPSG:4490; a Shapefile needs its .prj file)",
            ),
            header=_header(file, 1),
        )
    crs = CRS.from_user_input(gdf.crs)
    gdf = gdf.reset_index(drop=True)
    if not crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        try:
            gdf = gdf.to_crs("EPSG:4326")
        except Exception as exc:
            raise CRSError(
                Problem(
                    file,
                    f"无法把坐标系 {crs.to_string()} 转换为 WGS-84 (cannot convert the file's CRS "
                    f"to WGS-84): {exc}",
                ),
                header=_header(file, 1),
            ) from None
    geoms = shapely.force_2d(np.asarray(gdf.geometry.array, dtype=object))
    layer = _Layer(
        file, "geo", gdf, np.arange(1, len(gdf) + 1, dtype=np.int64), note=note, problems=[]
    )
    types = shapely.get_type_id(geoms)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for pos in np.flatnonzero(missing):
        layer.add(
            int(pos),
            "geometry",
            "几何为空 (empty geometry); 请在 GIS 中补绘或删除该要素 (draw it or delete the "
            "feature in your GIS)",
        )
    ok = ~missing
    if role is not _LAYER:
        single = (types == _MULTIPOINT) & (shapely.get_num_geometries(geoms) == 1)
        allowed = np.isin(types, [_POINT, _POLYGON, _MULTIPOLYGON]) | single
        for pos in np.flatnonzero(ok & ~allowed):
            type_name = geoms[pos].geom_type
            layer.add(
                int(pos),
                "geometry",
                f"几何类型不支持 (unsupported geometry type) {type_name}; {role.zh}须为点或面 "
                f"({role.en} must be points or polygons)",
            )
        ok &= allowed
    invalid = ok & ~shapely.is_valid(geoms)
    for pos in np.flatnonzero(invalid):
        layer.add(
            int(pos),
            "geometry",
            f"几何无效 (invalid geometry): {shapely.is_valid_reason(geoms[pos])}; 请在 GIS 中修复"
            "（如 QGIS“修复几何”）或用 shapely.make_valid 修复 (fix it in your GIS, e.g. QGIS "
            "'Fix geometries', or with shapely.make_valid)",
        )
    ok &= ~invalid
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


def _convert_vertices(geoms: NDArray[Any], system: str) -> NDArray[Any]:
    def convert(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = to_wgs84(xy[:, 0], xy[:, 1], system=system)
        return np.column_stack([x, y])

    return np.asarray(shapely.transform(geoms, convert), dtype=object)


def _check_range(
    layer: _Layer,
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
            layer.add(int(pos), column, _swapped(where, geo))
            continue
        hint = (
            "文件的坐标系 (CRS) 可能标错了 (the file's CRS may be wrong)"
            if geo
            else "如为投影坐标请先转换为经纬度 (projected coordinates must be converted to "
            "longitude/latitude first)"
        )
        layer.add(
            int(pos),
            column,
            f"坐标超出经纬度范围 (coordinates out of range): {where}; 经度应在 -180~180、纬度在 "
            f"-90~90 之间 (longitude must be within -180..180 and latitude within -90..90); "
            f"{hint}",
        )
    return in_range


def _swapped(where: str, geo: bool) -> str:
    fix = (
        "请在 GIS 中交换 X/Y 坐标 (swap the x/y coordinates in your GIS)"
        if geo
        else "请交换经度列和纬度列 (swap the longitude and latitude columns)"
    )
    return f"经纬度可能填反了 (longitude and latitude look swapped): {where}; {fix}"


def _check_area(
    layer: _Layer,
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
            layer.add(int(pos), column, _swapped(where, layer.kind == "geo"))
            continue
        layer.add(
            int(pos),
            column,
            f"位置在研究范围之外 (outside the study area): {where}，超出研究范围 {margin_km:g} km "
            f"以上 (more than {margin_km:g} km outside the study area {area}); 请检查坐标及其"
            "坐标系设置 coords = wgs84/gcj02/bd09 (check the coordinates and the coords setting)",
        )
    return inner


# --------------------------------------------------------------------------------------------
# small helpers


def _numbers(
    values: pd.Series, *, thousands: bool = False
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_]]:
    """Parse a column as float64: (numbers, empty mask, not-a-valid-number mask).

    Cells are compared as text, so numbers, numeric strings (with thousands separators when
    ``thousands``) and blanks of any file format are handled alike; ``True``, ``"abc"``,
    ``"nan"`` and infinities are not valid numbers.
    """
    text = pd.Series(values.to_numpy(dtype=object), dtype=object).astype("string").str.strip()
    if thousands:
        text = text.str.replace(",", "", regex=False)
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
    numbers = pd.to_numeric(text.where(~blank), errors="coerce")
    out = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~blank & ~np.isfinite(out)
    return np.where(bad, np.nan, out), blank, bad


def _text(value: Any) -> str:
    if _is_blank(value) or value is pd.NA:
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _texts(values: pd.Series) -> NDArray[Any]:
    return np.array([_text(v) for v in values.to_numpy(dtype=object)], dtype=object)


_LEADING_ZERO = re.compile(r"^[+-]?0\d")


def _infer_column(values: pd.Series) -> pd.Series:
    """Type a table column: numbers when every filled cell is one (codes like 007 stay text)."""
    obj = values.map(lambda v: None if _is_blank(v) else (v.strip() if isinstance(v, str) else v))
    filled = obj.dropna()
    if (
        len(filled)
        and not filled.map(lambda v: isinstance(v, str) and bool(_LEADING_ZERO.match(v))).any()
    ):
        numbers = pd.to_numeric(filled, errors="coerce")
        if numbers.notna().all() and not filled.map(lambda v: isinstance(v, bool)).any():
            return pd.to_numeric(obj, errors="coerce")
    return obj.infer_objects()


def _infer_columns(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: _infer_column(df[c]) for c in df.columns}, index=df.index)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _list(names: Iterable[Any]) -> str:
    items = [str(n) for n in names]
    return ", ".join(items[:30]) + (f" ... ({len(items)} in all)" if len(items) > 30 else "")


def _header(file: str, count: int, kind: str | None = None) -> str:
    text = f"{file}: {count} problem(s) / 发现 {count} 个问题"
    if kind == "table":
        text += " (row N = N-th data row below the header / 第 N 行指表头下第 N 行数据)"
    elif kind == "geo":
        text += " (row N = N-th feature / 第 N 个要素)"
    return text


def _fatal(file: str, message: str) -> NoReturn:
    raise InputError(Problem(file, message), header=_header(file, 1))


def _raise_if(layer: _Layer) -> None:
    if layer.problems:
        # file-wide problems first, then by row (stable: a row's problems keep check order)
        problems = sorted(layer.problems, key=lambda p: -1 if p.row is None else p.row)
        raise InputError(problems, header=_header(layer.file, len(problems), layer.kind))
