from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from coverage._validate import id_issues
from coverage.config import LayerSpec
from coverage.errors import CoverageWarning
from coverage.layer_files import (
    Layer,
    RawTable,
    find_column,
    infer_columns,
    is_blank,
    parse_numbers,
    raise_problems,
    read_source,
    show_value,
)
from coverage.layer_geometry import LAT_COLUMNS, LON_COLUMNS, geo_layer, table_layer, to_points

__all__ = [
    "LAT_COLUMNS",
    "LON_COLUMNS",
    "load_candidates",
    "load_compounds",
    "load_stations",
    "read_layer",
]

logger = logging.getLogger(__name__)

_HOUSEHOLD_COLUMNS = ("households", "户数", "住户数", "总户数", "hh")
_AREA_NAMES = ("名称", "区域名称", "区县", "街道", "社区")  # a layer's rows may be named areas
_CAPACITY_COLUMNS = ("capacity", "容量", "服务户数上限")


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
    if layer.problems:  # name each row's record by its id and name columns, when it has them
        columns = [c for c in layer.data.columns if c != "geometry"]
        found = [
            find_column(layer, columns, names, None, "", "")
            for names in (r.id_names, (*r.name_names, *_AREA_NAMES))
        ]
        values = [
            _texts(layer.data[c]) if c is not None else np.full(len(layer.data), "", dtype=object)
            for c in found
        ]
        layer.name_records(*values)
    raise_problems(layer)
    out = layer.data.drop(columns=list(layer.coord_columns))
    if layer.kind == "table":
        out = gpd.GeoDataFrame(infer_columns(out.drop(columns="geometry")), geometry=out.geometry)
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


def _read(
    spec: LayerSpec,
    role: _Role,
    *,
    study_area: tuple[float, float, float, float] | None,
    margin_km: float,
) -> Layer:
    """Read a layer file and check its coordinates and geometries (any role)."""
    source = read_source(spec)
    if isinstance(source, RawTable):
        return table_layer(
            spec, source, known_headers=_KNOWN_HEADERS, study_area=study_area, margin_km=margin_km
        )
    shapes = None if role is _LAYER else (role.zh, role.en)
    return geo_layer(spec, source, shapes=shapes, study_area=study_area, margin_km=margin_km)


def _load(
    spec: LayerSpec,
    role: _Role,
    *,
    study_area: tuple[float, float, float, float] | None,
    margin_km: float,
    service: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a layer, check it against its role's schema and build the output table."""
    layer = _read(spec, role, study_area=study_area, margin_km=margin_km)
    columns = [c for c in layer.data.columns if c != "geometry" and c not in layer.coord_columns]
    used: set[str] = set(layer.coord_columns)
    out, record_ids = _ids_and_names(layer, spec, role, columns, used)
    if role is _COMPOUNDS:
        out.update(_households(layer, spec, columns, used))
    else:
        out.update(_capacity(layer, spec, columns, used, service))
    # every row's problems name its record: the id (when the file has one) and the name
    layer.name_records(record_ids, out["name"])
    raise_problems(layer)
    geometry = np.asarray(layer.data.geometry.array, dtype=object)
    if not role.keep_polygons:
        geometry = to_points(geometry)
        if role is _STATIONS:
            _warn_duplicate_points(layer, geometry, out[role.id_out], out["name"])
    result = _with_extra_columns(layer, pd.DataFrame(out), [c for c in columns if c not in used])
    result = gpd.GeoDataFrame(result, geometry=gpd.GeoSeries(geometry, crs="EPSG:4326"))
    # the system the file's numbers were in (a table's column names may have said GCJ-02)
    result.attrs["coords"] = layer.data.attrs.get("coords", spec.coords)
    logger.info("read %d %s from %s", len(result), role.key, layer.file)
    return result


def _ids_and_names(
    layer: Layer, spec: LayerSpec, role: _Role, columns: list[str], used: set[str]
) -> tuple[dict[str, Any], NDArray[Any]]:
    """The id and name columns: checked ids (``<file stem>-<row>`` without an id column).

    Also the ids that name each row's record in messages (empty without an id column).
    """
    data = layer.data
    id_what, name_what = layer.text("编号/id", "id"), layer.text("名称/name", "name")
    id_col = find_column(layer, columns, role.id_names, spec.id_column, "id_column", id_what)
    name_col = find_column(
        layer, columns, role.name_names, spec.name_column, "name_column", name_what
    )
    used.update(c for c in (id_col, name_col) if c is not None)
    if id_col is not None:
        ids = _texts(data[id_col])
        for pos, message in id_issues(ids, rows=layer.rows, unit=layer.unit, lang=layer.lang):
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
    record_ids = ids if id_col is not None else np.full(len(ids), "", dtype=object)
    return {role.id_out: ids, "name": np.where(names == "", ids, names)}, record_ids


def _households(
    layer: Layer, spec: LayerSpec, columns: list[str], used: set[str]
) -> dict[str, Any]:
    """The compounds' required households and their source (a file's own ``estimated``)."""
    data = layer.data
    n = len(data)
    hh_col = find_column(
        layer,
        columns,
        _HOUSEHOLD_COLUMNS,
        spec.households_column,
        "households_column",
        layer.text("户数/households", "households"),
        required=True,
    )
    households = np.full(n, np.nan)
    if hh_col is not None:
        used.add(hh_col)
        households = _check_amounts(layer, data[hh_col], hh_col, "户数", "households")
    # keep a file's own households_source ("estimated" from a derived layer); else given
    source = np.full(n, "given", dtype=object)
    if "households_source" in columns:
        used.add("households_source")
        own = data["households_source"].astype("string").str.strip().str.lower()
        source = np.where(own.isin(["estimated"]).fillna(False), "estimated", source)
    return {"households": households, "households_source": source}


def _capacity(
    layer: Layer, spec: LayerSpec, columns: list[str], used: set[str], service: str | None
) -> dict[str, Any]:
    """The stations' (or candidates') optional capacity, and their service key."""
    data = layer.data
    cap_col = find_column(
        layer,
        columns,
        _CAPACITY_COLUMNS,
        spec.capacity_column,
        "capacity_column",
        layer.text("容量/capacity", "capacity"),
    )
    capacity = np.full(len(data), np.nan)
    if cap_col is not None:
        used.add(cap_col)
        capacity = _check_amounts(
            layer, data[cap_col], cap_col, "容量", "capacity", allow_empty=True
        )
    out: dict[str, Any] = {} if service is None else {"service": service}
    out["capacity"] = capacity
    return out


def _with_extra_columns(layer: Layer, frame: pd.DataFrame, extras: list[str]) -> pd.DataFrame:
    """The file's other columns after the output columns (typed, for tables)."""
    clash = [c for c in extras if c in frame.columns]
    if clash:
        logger.info("%s: dropping columns %s (their names are output columns)", layer.file, clash)
    extra = layer.data[[c for c in extras if c not in frame.columns]]
    if layer.kind == "table":
        extra = infer_columns(extra)
    return pd.concat([frame, extra.reset_index(drop=True)], axis=1)


def _check_amounts(
    layer: Layer,
    values: pd.Series,
    column: str,
    zh: str,
    en: str,
    *,
    allow_empty: bool = False,
) -> NDArray[np.float64]:
    """Parse a households/capacity column; record empty, non-numeric and negative values."""
    numbers, empty, bad = parse_numbers(values, thousands=True)
    raw = values.to_numpy(dtype=object)
    if not allow_empty:
        for pos in np.flatnonzero(empty):
            layer.add(
                int(pos),
                column,
                layer.text(
                    f"{zh}为空 ({en} is empty); 请填写{zh}，为非负数字 (enter the {en}, a number "
                    ">= 0)",
                    f"{en} is empty; enter the {en}, a number >= 0",
                ),
            )
    for pos in np.flatnonzero(bad):
        layer.add(
            int(pos),
            column,
            layer.text(
                f"{zh}不是有效数字 ({en} is not a valid number): {show_value(raw[pos])}; "
                f"请填写非负数字，如 120 (enter a number >= 0 such as 120)",
                f"{en} is not a valid number: {show_value(raw[pos])}; enter a number >= 0 such "
                "as 120",
            ),
        )
    for pos in np.flatnonzero(numbers < 0):
        layer.add(
            int(pos),
            column,
            layer.text(
                f"{zh}为负数 ({en} is negative): {show_value(raw[pos])}; "
                "请填写非负数字 (enter a number >= 0)",
                f"{en} is negative: {show_value(raw[pos])}; enter a number >= 0",
            ),
        )
    return np.where(empty | bad, np.nan, numbers)


def _warn_duplicate_points(
    layer: Layer, points: NDArray[Any], ids: NDArray[Any], names: NDArray[Any]
) -> None:
    xy = pd.DataFrame({"x": shapely.get_x(points), "y": shapely.get_y(points)})
    dup = xy.duplicated(keep=False)
    if not dup.any():
        return
    groups = []
    for positions in xy[dup].groupby(["x", "y"]).indices.values():
        pos = xy[dup].index[positions]
        rows = ", ".join(
            f"{layer.unit} {layer.rows[p]} ({' '.join(dict.fromkeys((ids[p], names[p])))})"
            for p in pos
        )
        groups.append(f"{rows} at lon={xy.x[pos[0]]:.6f}, lat={xy.y[pos[0]]:.6f}")
    where = "; ".join(groups)
    warnings.warn(
        layer.text(
            f"{layer.file}: 多个站点位于同一位置 (several stations share one location): {where}. "
            "如为同一站点请合并 (merge them if they are the same station)",
            f"{layer.file}: several stations share one location: {where}. Merge them if they "
            "are the same station",
        ),
        CoverageWarning,
        stacklevel=4,
    )


def _text(value: Any) -> str:
    if is_blank(value) or value is pd.NA:
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _texts(values: pd.Series) -> NDArray[Any]:
    return np.array([_text(v) for v in values.to_numpy(dtype=object)], dtype=object)
