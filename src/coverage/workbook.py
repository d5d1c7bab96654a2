"""``gaps.xlsx``: the workbook planners open first (openpyxl).

The summary sheet first (coverage per service and threshold), then one sheet per service type
with its gaps ranked by households left out, then the station loads and the coverage per
group. Headers in the report's language (Chinese by default), the header row frozen, column
widths fitted to the text (a CJK character counts double), numbers stored as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from coverage import labels
from coverage._atomic import atomic_path

__all__ = ["GAP_COLUMNS", "LOAD_COLUMNS", "SUMMARY_COLUMNS", "sheet_title", "write_gaps_workbook"]

#: Columns of a service's gap sheet (the grouping columns follow ``reason``).
GAP_COLUMNS = (
    "rank",
    "compound_id",
    "name",
    "households",
    "nearest_station_id",
    "walk_min",
    "minutes_short",
    "reason",
)
#: Columns of the summary sheet (after the service label).
SUMMARY_COLUMNS = (
    "minutes",
    "households_total",
    "households_covered",
    "share_covered",
    "compounds_total",
    "compounds_covered",
)
#: Columns of the station-load sheet (after the service label).
LOAD_COLUMNS = (
    "station_id",
    "name",
    "compounds_served",
    "households_served",
    "capacity",
    "load_ratio",
    "over_capacity",
)
_PERCENT = {"share_covered", "load_ratio"}
_MAX_WIDTH = 60
_BAD_TITLE = str.maketrans({c: "_" for c in "[]:*?/\\"})


def sheet_title(text: str, taken: Sequence[str] = ()) -> str:
    """A valid, unique worksheet title (at most 31 characters, none of ``[]:*?/\\``).

    Examples
    --------
    >>> sheet_title("党群服务站")
    '党群服务站'
    >>> sheet_title("a/b", ["a_b"])
    'a_b (2)'
    """
    base = (text.translate(_BAD_TITLE).strip() or "sheet")[:31]
    title, n = base, 2
    lower = {t.lower() for t in taken}
    while title.lower() in lower:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    return title


def _width(value: Any) -> int:
    text = str(value)
    return sum(2 if ord(c) > 0x2E80 else 1 for c in text)


def _cell(value: Any) -> Any:
    """Numbers as numbers, flags as 是/否 handled by the caller, missing as empty."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if pd.isna(value) if not isinstance(value, list | tuple | dict) else False:
        return None
    if hasattr(value, "item"):
        value = value.item()
    return value


def _write_sheet(ws: Any, frame: pd.DataFrame, headers: Sequence[str], lang: str) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    ws.append(list(headers))
    yes, no = labels.pick("是", "yes", lang), labels.pick("否", "no", lang)
    for row in frame.itertuples(index=False, name=None):
        ws.append([yes if v is True else no if v is False else _cell(v) for v in row])
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for cell in ws[1]:
        cell.font, cell.fill = bold, fill
        cell.alignment = Alignment(vertical="center", wrap_text=False)
    ws.freeze_panes = "A2"
    for j, column in enumerate(frame.columns, start=1):
        letter = ws.cell(row=1, column=j).column_letter
        if column in _PERCENT:
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = "0.0%"
        elif column in ("walk_min", "minutes_short"):
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = "0.0"
        elif column.startswith("households") or column == "capacity":
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = "#,##0"
        widest = max(
            [_width(headers[j - 1])]
            + [_width(f"{v:,.1f}" if isinstance(v, float) else v) for v in frame[column].head(500)]
        )
        ws.column_dimensions[letter].width = min(widest + 2, _MAX_WIDTH)
    if len(frame):
        ws.auto_filter.ref = ws.dimensions


def _labelled(
    frame: pd.DataFrame, columns: Sequence[str], lang: str
) -> tuple[pd.DataFrame, list[str]]:
    table = frame.reindex(columns=list(columns))
    return table, [labels.column_label(c, lang) for c in columns]


def write_gaps_workbook(
    path: str | Path,
    *,
    summary: pd.DataFrame,
    gaps: Mapping[str, pd.DataFrame],
    loads: Mapping[str, pd.DataFrame],
    groups: pd.DataFrame | None = None,
    service_labels: Mapping[str, str] | None = None,
    group_columns: Sequence[str] = (),
    lang: str = "zh",
    note: str | None = None,
) -> Path:
    """Write ``gaps.xlsx``, atomically.

    Parameters
    ----------
    path
        The file to write.
    summary
        Overall coverage: one row per service and threshold (``service`` and
        :data:`SUMMARY_COLUMNS`).
    gaps
        Per service key: the ranked gaps (:data:`GAP_COLUMNS` and the grouping columns).
    loads
        Per service key: the station loads (:data:`LOAD_COLUMNS`).
    groups
        Coverage per group (``service``, ``group_level``, ``group_name`` and
        :data:`SUMMARY_COLUMNS`), optional.
    service_labels
        Service labels by key (sheet names and the service column).
    group_columns
        Grouping columns of the compounds, shown on the gap sheets after ``reason``.
    lang
        ``"zh"`` or ``"en"``.
    note
        The study's note, written under the summary table.

    Returns
    -------
    Path
    """
    from openpyxl import Workbook

    service_labels = dict(service_labels or {})

    def label_of(key: str) -> str:
        return str(service_labels.get(key, key))

    service_head = labels.column_label("label", lang)
    wb = Workbook()
    ws = wb.active
    ws.title = sheet_title(labels.pick("汇总", "summary", lang))
    table, heads = _labelled(summary, SUMMARY_COLUMNS, lang)
    table.insert(0, "label", [label_of(k) for k in summary["service"]])
    _write_sheet(ws, table, [service_head, *heads], lang)
    if note:
        ws.cell(row=ws.max_row + 2, column=1, value=note)
    taken = [ws.title]
    for key, frame in gaps.items():
        ws = wb.create_sheet(sheet_title(label_of(key), taken))
        taken.append(str(ws.title))
        columns = [*GAP_COLUMNS, *(c for c in group_columns if c in frame.columns)]
        table, heads = _labelled(frame, columns, lang)
        table["reason"] = [labels.reason_label(str(r), lang) for r in table["reason"].fillna("")]
        _write_sheet(ws, table, heads, lang)
    ws = wb.create_sheet(sheet_title(labels.pick("站点负荷", "station loads", lang), taken))
    taken.append(ws.title)
    parts = [
        f.reindex(columns=list(LOAD_COLUMNS)).assign(label=label_of(k)) for k, f in loads.items()
    ]
    stacked = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=LOAD_COLUMNS)
    table, heads = _labelled(stacked, LOAD_COLUMNS, lang)
    table.insert(0, "label", stacked["label"] if len(stacked) else [])
    _write_sheet(ws, table, [service_head, *heads], lang)
    if groups is not None and len(groups):
        ws = wb.create_sheet(sheet_title(labels.pick("分组覆盖", "coverage by group", lang), taken))
        table, heads = _labelled(groups, SUMMARY_COLUMNS, lang)
        table.insert(0, "group_name", groups["group_name"].to_numpy())
        table.insert(0, "group_level", groups["group_level"].to_numpy())
        table.insert(0, "label", [label_of(k) for k in groups["service"]])
        level = labels.pick("分组层级", "group level", lang)
        name = labels.pick("分组", "group", lang)
        _write_sheet(ws, table, [service_head, level, name, *heads], lang)
    path = Path(path)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return path
