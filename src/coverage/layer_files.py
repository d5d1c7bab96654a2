"""Reading layer files as they are: format detection, text encodings, spreadsheets, GDAL layers.

The first step of :mod:`coverage.inputs`: a file becomes either the cells of a table
(:class:`RawTable`: CSV in any common encoding and separator, XLSX sheets, plain Parquet) or the
features of a geo file (:class:`RawGeo`: GeoJSON, GeoPackage, Shapefile with its ``.dbf``
encoding, GeoParquet), with nothing checked yet. Also the :class:`Layer` the later checks fill
in, and the helpers every check uses to record problems and read table cells.

Messages are in the layer's language (``LayerSpec.language``, the study's): Chinese first with
the English in brackets for ``"zh"``, English only for ``"en"``
(:func:`coverage.labels.pick`).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from numpy.typing import NDArray

from coverage.config import LayerSpec
from coverage.coord_columns import coordinate_header
from coverage.errors import InputError, Problem
from coverage.labels import DEFAULT_LANGUAGE, pick

__all__ = [
    "CSV_SUFFIXES",
    "EXCEL_SUFFIXES",
    "FORMATS",
    "PARQUET_SUFFIXES",
    "Layer",
    "RawGeo",
    "RawTable",
    "fatal",
    "find_column",
    "infer_columns",
    "is_blank",
    "list_names",
    "parse_numbers",
    "problems_header",
    "raise_problems",
    "read_source",
    "row_note",
    "show_value",
    "table_rows",
]

logger = logging.getLogger("coverage.inputs")  # the input step logs under one name

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".geoparquet"}
FORMATS = "GeoJSON, GeoPackage, Shapefile, GeoParquet, CSV, XLSX"


@dataclass(frozen=True)
class RawTable:
    """The cells of a table file, as read.

    Attributes
    ----------
    grid
        Every row of the file (header and title lines included), as a list of cells.
    lines
        The file/sheet line of each row of ``grid`` (a CSV cell may span lines).
    note
        Which sheet was read, when the workbook has several.
    """

    grid: list[list[Any]]
    lines: list[int]
    note: str = ""


@dataclass(frozen=True)
class RawGeo:
    """The features of a geo file, as read (any CRS).

    Attributes
    ----------
    frame
        The features.
    note
        Which layer was read, when the file has several.
    """

    frame: gpd.GeoDataFrame
    note: str = ""


@dataclass
class Layer:
    """A layer as read, with its problems so far, before the role-specific checks."""

    file: str
    kind: str  # "table" or "geo"
    data: gpd.GeoDataFrame  # RangeIndex, attributes + geometry (EPSG:4326, None where unusable)
    # row of each row of ``data`` as the user finds it: the row Excel shows (header = row 1)
    # for tables, the 1-based feature number for geo files
    rows: NDArray[np.int64]
    lines: NDArray[np.int64] | None = None  # text line of each row (CSV; cells may span lines)
    coord_columns: tuple[str, ...] = ()
    note: str = ""  # which sheet/layer was read, when the file has several
    problems: list[Problem] = field(default_factory=list)
    lang: str = DEFAULT_LANGUAGE  # the language of the messages (the study's)

    @property
    def unit(self) -> str:
        """What :attr:`rows` counts in messages: ``"row"`` or ``"feature"``."""
        return "feature" if self.kind == "geo" else "row"

    def text(self, zh: str, en: str) -> str:
        """A message in the layer's language: ``zh`` (Chinese with the English) or ``en``."""
        return pick(zh, en, self.lang)

    def add(self, row_pos: int | None, column: str | None, message: str) -> None:
        """Record a problem for the row at position ``row_pos`` of ``data``."""
        row = None
        if row_pos is not None:
            row = int(self.rows[row_pos])
            if self.lines is not None and int(self.lines[row_pos]) != row:
                line = self.lines[row_pos]
                message += self.text(
                    f" (文件第 {line} 行 / line {line} of the file)", f" (line {line} of the file)"
                )
        self.problems.append(Problem(self.file, message, row=row, column=column, unit=self.unit))

    def name_records(self, ids: Any, names: Any) -> None:
        """Name each row's record (its id and name) beside the row of every problem.

        Parameters
        ----------
        ids, names
            The id and name of every row of ``data`` (empty text where missing).
        """
        wanted = {p.row for p in self.problems if p.row is not None}
        if not wanted:  # the usual case: nothing to name
            return
        records = {}
        for row, rid, name in zip(self.rows.tolist(), ids, names, strict=True):
            if row not in wanted:
                continue
            rid, name = str(rid or "").strip(), str(name or "").strip()
            records[row] = " ".join(dict.fromkeys(v for v in (rid, name) if v))
        self.problems = [
            replace(p, record=records.get(p.row) or None) if p.row is not None else p
            for p in self.problems
        ]


# --------------------------------------------------------------------------------------------
# reading


def read_source(spec: LayerSpec) -> RawTable | RawGeo:
    """Read a layer file as it is: the cells of a table, or the features of a geo file.

    Parameters
    ----------
    spec
        The file and how to read it (sheet/layer, encoding).

    Returns
    -------
    RawTable or RawGeo

    Raises
    ------
    InputError
        When the file is missing, empty, an old ``.xls`` workbook or unreadable.
    """
    path = Path(spec.path)
    file = str(spec.path)
    lang = spec.language
    if not path.exists():
        fatal(
            file,
            pick(
                "文件不存在 (file not found); 请检查路径 (check the path)",
                "file not found; check the path",
                lang,
            ),
            lang=lang,
        )
    if path.is_file() and path.stat().st_size == 0:
        fatal(file, _empty_file(lang), lang=lang)
    suffix = path.suffix.lower()
    if suffix == ".xls":
        fatal(
            file,
            pick(
                "不支持旧版 .xls 文件 (old .xls workbooks are not supported); 请在 Excel 或 WPS 中"
                "另存为 .xlsx (save it as .xlsx)",
                "old .xls workbooks are not supported; save it as .xlsx in Excel or WPS",
                lang,
            ),
            lang=lang,
        )
    if suffix in CSV_SUFFIXES or suffix in EXCEL_SUFFIXES:
        grid, lines, note = _read_csv(spec) if suffix in CSV_SUFFIXES else _read_xlsx(spec)
        return RawTable(grid, lines, note)
    if suffix in PARQUET_SUFFIXES:
        try:
            gdf = gpd.read_parquet(path)
        except ValueError as exc:
            if "geo metadata" not in str(exc):
                fatal(file, _unreadable(exc, lang), lang=lang)
            df = _guard(file, lambda: pd.read_parquet(path), lang)
            grid = [list(df.columns), *df.astype(object).to_numpy().tolist()]
            lines = list(range(1, len(grid) + 1))
            return RawTable(grid, lines)
        except Exception as exc:
            fatal(file, _unreadable(exc, lang), lang=lang)
        return RawGeo(gdf)
    gdf, note = _read_vector(spec)
    return RawGeo(gdf, note)


def _guard(file: str, read: Any, lang: str) -> Any:
    try:
        return read()
    except Exception as exc:
        fatal(file, _unreadable(exc, lang), lang=lang)


def _unreadable(exc: BaseException, lang: str) -> str:
    return pick(
        f"无法读取该文件 (cannot read this file): {exc}; 请确认文件完整且格式受支持 (check that "
        f"the file is complete and in a supported format: {FORMATS})",
        f"cannot read this file: {exc}; check that the file is complete and in a supported "
        f"format: {FORMATS}",
        lang,
    )


def _empty_file(lang: str) -> str:
    return pick(
        "文件为空 (file is empty); 请检查导出是否成功 (check that the data was saved)",
        "file is empty; check that the data was saved",
        lang,
    )


def _read_vector(spec: LayerSpec) -> tuple[gpd.GeoDataFrame, str]:
    path = Path(spec.path)
    file = str(spec.path)
    lang = spec.language
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:
        fatal(file, _unreadable(exc, lang), lang=lang)
    layer = spec.layer
    note = ""
    if layer is not None and layer not in layers:
        fatal(
            file,
            pick(
                f"找不到图层 (layer not found) {layer!r}; 文件中的图层 (layers in the file): "
                f"{list_names(layers)}",
                f"layer not found: {layer!r}; layers in the file: {list_names(layers)}",
                lang,
            ),
            lang=lang,
        )
    if layer is None and len(layers) > 1:
        layer = layers[0]
        note = pick(
            f" (读取了第一个图层 / read the first layer {layer!r} of {list_names(layers)})",
            f" (read the first layer {layer!r} of {list_names(layers)})",
            lang,
        )
        logger.info("%s has %d layers; reading the first, %r", file, len(layers), layer)
    encoding = None  # other formats declare their encoding (GeoJSON, GeoPackage: UTF-8)
    if path.suffix.lower() in (".shp", ".dbf"):
        encoding = spec.encoding or _shapefile_encoding(path)
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except Exception as exc:
        fatal(file, _unreadable(exc, lang), lang=lang)
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
    lang = spec.language
    raw = Path(spec.path).read_bytes()
    if not raw.strip():
        fatal(file, _empty_file(lang), lang=lang)
    encodings = [spec.encoding] if spec.encoding else ["utf-8-sig", "gb18030"]
    text = None
    for enc in encodings:
        try:
            text = raw.decode(enc)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    if text is None:
        fatal(
            file,
            pick(
                f"无法识别文本编码 (cannot decode the text; tried {', '.join(encodings)}); "
                "请另存为 UTF-8 编码的 CSV (save it as CSV UTF-8), 或在研究配置中设置 encoding "
                "(or set encoding in the study file)",
                f"cannot decode the text (tried {', '.join(encodings)}); save it as CSV UTF-8, "
                "or set encoding in the study file",
                lang,
            ),
            lang=lang,
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
        fatal(
            file,
            pick(
                f"CSV 格式错误 (malformed CSV) near line {reader.line_num}: {exc}",
                f"malformed CSV near line {reader.line_num}: {exc}",
                lang,
            ),
            lang=lang,
        )
    return grid, lines, ""


def _read_xlsx(spec: LayerSpec) -> tuple[list[list[Any]], list[int], str]:
    import openpyxl

    file = str(spec.path)
    lang = spec.language
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # openpyxl: unsupported extensions
            wb = openpyxl.load_workbook(spec.path, read_only=True, data_only=True)
    except Exception as exc:
        fatal(file, _unreadable(exc, lang), lang=lang)
    try:
        names = list(wb.sheetnames)
        note = ""
        if spec.layer is not None:
            if spec.layer not in names:
                fatal(
                    file,
                    pick(
                        f"找不到工作表 (sheet not found) {spec.layer!r}; 工作表有 (sheets in the "
                        f"file): {list_names(names)}",
                        f"sheet not found: {spec.layer!r}; sheets in the file: {list_names(names)}",
                        lang,
                    ),
                    lang=lang,
                )
            ws = wb[spec.layer]
        else:
            ws = wb.worksheets[0]
            if len(names) > 1:
                note = pick(
                    f" (读取了第一个工作表 / read the first sheet {names[0]!r} of "
                    f"{list_names(names)})",
                    f" (read the first sheet {names[0]!r} of {list_names(names)})",
                    lang,
                )
        if hasattr(ws, "reset_dimensions"):  # read-only sheets may carry a wrong size record
            ws.reset_dimensions()
        grid = [list(r) for r in ws.iter_rows(min_row=1, values_only=True)]
    finally:
        wb.close()
    return grid, list(range(1, len(grid) + 1)), note


# --------------------------------------------------------------------------------------------
# columns and cells


def table_rows(
    file: str, table: RawTable, *, known_headers: frozenset[str], lang: str = DEFAULT_LANGUAGE
) -> Layer:
    """Find a table's header row and its data rows; the cells stay as read.

    Parameters
    ----------
    file
        The file, as named in messages.
    table
        The cells as read.
    known_headers
        Lower-case column names that mark the header row: the first of the first 20 filled
        rows naming one is the header (title lines may sit above it), else the first filled
        row.
    lang
        The language of the messages (:attr:`Layer.lang`).

    Returns
    -------
    Layer
        ``data``: one row per filled data row, every cell as read (object dtype), an empty
        ``geometry``; ``rows``: each row's number as Excel shows it (the file's first row is
        row 1, blank rows count); ``lines``: its text line (a CSV cell may span lines).
        Rows with more cells than the header are problems.

    Raises
    ------
    InputError
        When the table has no filled row, or only a header.
    """
    grid, lines, note = table.grid, table.lines, table.note
    filled = [i for i, r in enumerate(grid) if not all(is_blank(v) for v in r)]
    if not filled:
        fatal(file, _empty_file(lang), lang=lang)
    # the header is the first row naming a known column (title lines may sit above it)
    header_at = next(
        (
            i
            for i in filled[:20]
            if any(
                isinstance(v, str)
                and (v.strip().lower() in known_headers or coordinate_header(v)[0] is not None)
                for v in grid[i]
            )
        ),
        filled[0],
    )
    header = _header_names(grid[header_at])
    width = len(header)
    body = [i for i in filled if i > header_at]
    rows = np.array([i + 1 for i in body], dtype=np.int64)  # the row Excel shows
    cells = [(list(grid[i]) + [None] * width)[:width] for i in body]
    df = pd.DataFrame(cells, columns=header, dtype=object)
    empty_gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([None] * len(df), crs="EPSG:4326"))
    layer = Layer(
        file,
        "table",
        empty_gdf,
        rows,
        lines=np.array([lines[i] for i in body], dtype=np.int64),
        note=note,
        lang=lang,
    )
    for k, i in enumerate(body):
        extra = [v for v in grid[i][width:] if not is_blank(v)]
        if extra:
            layer.add(
                k,
                None,
                layer.text(
                    "该行的单元格多于表头列数 (more cells than header columns): "
                    f"{show_value(extra[0])}; 请检查分隔符或补全表头 (check the separators or "
                    "name the column)",
                    f"more cells than header columns: {show_value(extra[0])}; check the "
                    "separators or name the column",
                ),
            )
    if not body:
        fatal(
            file,
            pick(
                f"图层为空 (layer has no rows): 只有表头 (only a header){note}",
                f"layer has no rows: only a header{note}",
                lang,
            ),
            lang=lang,
        )
    return layer


def _header_names(cells: Sequence[Any]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for j, v in enumerate(cells):
        name = str(v).strip() if not is_blank(v) else f"column_{j + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        names.append(name)
    return names


def find_column(
    layer: Layer,
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
            layer.text(
                f"找不到指定的列 (column not found) {override!r}，它由 {option} 指定 (set as "
                f"{option}); 现有列 (columns in the file): {list_names(columns)}{layer.note}",
                f"column not found: {override!r} (set as {option}); columns in the file: "
                f"{list_names(columns)}{layer.note}",
            ),
        )
        return None
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    if required:
        layer.add(
            None,
            None,
            layer.text(
                f"缺少必需列 (missing required column) {what}; 请添加一列，列名用 (add a column "
                f"named one of): {', '.join(names)}, 或在研究配置中设置 {option} (or set "
                f"{option} in the study file); 现有列 (columns in the file): "
                f"{list_names(columns)}{layer.note}",
                f"missing required column {what}; add a column named one of: "
                f"{', '.join(names)}, or set {option} in the study file; columns in the file: "
                f"{list_names(columns)}{layer.note}",
            ),
        )
    return None


def is_blank(value: Any) -> bool:
    """Whether a cell is empty: ``None``, NaN or only whitespace."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and math.isnan(value)


def parse_numbers(
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


_LEADING_ZERO = re.compile(r"^[+-]?0\d")


def _infer_column(values: pd.Series) -> pd.Series:
    """Type a table column: numbers when every filled cell is one (codes like 007 stay text)."""
    obj = values.map(lambda v: None if is_blank(v) else (v.strip() if isinstance(v, str) else v))
    filled = obj.dropna()
    if (
        len(filled)
        and not filled.map(lambda v: isinstance(v, str) and bool(_LEADING_ZERO.match(v))).any()
    ):
        numbers = pd.to_numeric(filled, errors="coerce")
        if numbers.notna().all() and not filled.map(lambda v: isinstance(v, bool)).any():
            return pd.to_numeric(obj, errors="coerce")
    return obj.infer_objects()


def infer_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Type every column of a table: numbers when every filled cell is one, else text."""
    return pd.DataFrame({c: _infer_column(df[c]) for c in df.columns}, index=df.index)


# --------------------------------------------------------------------------------------------
# problems


def show_value(value: Any) -> str:
    """A cell value as a message shows it (text quoted)."""
    return repr(value) if isinstance(value, str) else str(value)


def list_names(names: Iterable[Any]) -> str:
    """Names joined by commas, at most 30 of them."""
    items = [str(n) for n in names]
    return ", ".join(items[:30]) + (f" ... ({len(items)} in all)" if len(items) > 30 else "")


_ROW_NOTES = {
    "row": (
        "第 N 行即 Excel 中的行号，表头为第 1 行 / row N as Excel shows it, header = row 1",
        "row N as Excel shows it, header = row 1",
    ),
    "feature": (
        "第 N 个要素 / feature N = the N-th feature, from 1",
        "feature N = the N-th feature, from 1",
    ),
}


def row_note(problems: Iterable[Problem], *, lang: str | None = None) -> str:
    """What the row numbers of ``problems`` mean (``""`` when none names a row).

    Parameters
    ----------
    problems
        Problems of one or several files.
    lang
        ``"zh"`` (Chinese with the English; also ``None``) or ``"en"``.

    Returns
    -------
    str
        ``" (第 N 行即 Excel 中的行号 ...)"``, for each kind of row number used.
    """
    units = dict.fromkeys(p.unit for p in problems if p.row is not None)
    notes = [pick(*_ROW_NOTES[u], lang) if u in _ROW_NOTES else u for u in units]
    return f" ({'; '.join(notes)})" if units else ""


def problems_header(
    file: str, count: int, kind: str | None = None, *, lang: str | None = None
) -> str:
    """The first line of an error listing a file's problems (what row N means)."""
    both = f"{file}: {count} problem(s) / 发现 {count} 个问题"
    text = pick(both, f"{file}: {count} problem(s)", lang)
    if kind in ("table", "geo"):
        unit = "feature" if kind == "geo" else "row"
        text += row_note([Problem(file, "", row=1, unit=unit)], lang=lang)
    return text


def fatal(file: str, message: str, *, lang: str | None = None) -> NoReturn:
    """Raise one problem that stops reading the file at once (``message`` in ``lang``)."""
    raise InputError(Problem(file, message), header=problems_header(file, 1, lang=lang))


def raise_problems(layer: Layer) -> None:
    """Raise the layer's problems, when it has any: file-wide first, then by row."""
    if layer.problems:
        # file-wide problems first, then by row (stable: a row's problems keep check order)
        problems = sorted(layer.problems, key=lambda p: -1 if p.row is None else p.row)
        header = problems_header(layer.file, len(problems), layer.kind, lang=layer.lang)
        raise InputError(problems, header=header)
