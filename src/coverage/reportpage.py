"""``report.html``: one self-contained page (no external script, style, font or image).

Pure text assembly from the tables of a run: every value from input files is escaped; the
charts come in as ``<svg>`` elements (text drawn as outlines, so no font is needed).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from coverage import labels
from coverage.history import Changes
from coverage.workbook import GAP_COLUMNS, LOAD_COLUMNS

__all__ = ["GAP_ROWS", "ReportContent", "report_html"]

#: Gap rows shown per service on the page (gaps.xlsx has them all).
GAP_ROWS = 30

_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC","WenQuanYi Micro Hei",
sans-serif;margin:0;color:#222;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 10px;border-bottom:2px solid
#2b6cb0;padding-bottom:4px}h3{font-size:16px;margin:18px 0 6px}
.meta{color:#555;font-size:14px}.note{background:#fff4d6;border:1px solid #e8c15a;padding:8px
12px;margin:10px 0;font-weight:bold}.warn{background:#fdecea;border:1px solid #e0a3a0;padding:6px
10px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}th,td{border:1px solid #d6d9de;
padding:4px 8px;text-align:left}th{background:#eef3fa}td.n{text-align:right;
font-variant-numeric:tabular-nums}tr.over td{background:#fdecea}.up{color:#1a7f37}
.down{color:#c62828}.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #d6d9de;
border-radius:6px;padding:10px 14px;min-width:220px}.card b{font-size:15px}.big{font-size:22px;
font-weight:bold;color:#2b6cb0}.chart svg{max-width:100%;height:auto}code{font-size:12px}
"""


@dataclass(frozen=True)
class ReportContent:
    """Everything the page shows (plain data; see :func:`report_html`)."""

    study_name: str
    run_date: str
    lang: str
    overall: pd.DataFrame  # service, label, minutes, households_*, share_covered, compounds_*
    gaps: Mapping[str, pd.DataFrame]
    loads: Mapping[str, pd.DataFrame]
    groups: pd.DataFrame  # service, label, group_level, group_name, minutes, share_covered ...
    changes: Changes
    labels: Mapping[str, str]
    chart_svg: str
    inputs: Sequence[Mapping[str, Any]]
    settings: Sequence[tuple[str, str]]
    run_id: str = ""
    version: str = ""
    seconds: float = 0.0
    note: str | None = None
    data_date: str | None = None
    cjk_font: bool = True
    map_file: str | None = "map.html"
    siting: Mapping[str, Any] | None = None  # summary, sites, curve_svg, label
    extra: dict[str, Any] = field(default_factory=dict)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any, fmt: str = "{:,.0f}") -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _e(value)
    return "" if math.isnan(v) else fmt.format(v)


def _pct(value: Any) -> str:
    return _num(value, "{:.1%}")


def _table(
    head: Sequence[str], rows: Sequence[Sequence[str]], *, classes: Sequence[str] = ()
) -> str:
    """Rows of already escaped/formatted cells; a cell starting with ``\\x00`` is numeric."""
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
        cells = "".join(
            f'<td class="n">{c[1:]}</td>' if c.startswith("\x00") else f"<td>{c}</td>" for c in row
        )
        out.append(f"<tr{cls}>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _text_or_blank(value: Any) -> str:
    try:
        missing = bool(pd.isna(value))
    except (TypeError, ValueError):  # not a scalar
        missing = False
    return "" if missing else str(value)


def _n(text: str) -> str:
    return "\x00" + text


def _delta(value: Any, lang: str) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    if math.isnan(v):
        return ""
    if abs(v) < 5e-5:
        return labels.text("report_same", lang)
    word, cls = ("report_up", "up") if v > 0 else ("report_down", "down")
    arrow = "▲" if v > 0 else "▼"
    return f'<span class="{cls}">{arrow} {labels.text(word, lang, pp=abs(v) * 100)}</span>'


def _headline(c: ReportContent) -> str:
    t = lambda key, **kw: labels.text(key, c.lang, **kw)  # noqa: E731
    cards = []
    for key, rows in c.overall.groupby("service", sort=False):
        label = c.labels.get(str(key), str(key))
        shares = "".join(
            f"<div>{_num(r.minutes, '{:g}')} min: <span class='big'>{_pct(r.share_covered)}</span>"
            f" ({_num(r.households_covered)} / {_num(r.households_total)})</div>"
            for r in rows.itertuples()
        )
        loads = c.loads.get(str(key), pd.DataFrame())
        over = int(loads["over_capacity"].sum()) if "over_capacity" in loads else 0
        gaps = len(c.gaps.get(str(key), []))
        cards.append(
            f"<div class='card'><b>{_e(label)}</b>{shares}<div>{t('report_stations')}: "
            f"{len(loads)} · {t('report_gaps_count')}: {gaps} · {t('report_over_capacity')}: "
            f"{over}</div></div>"
        )
    return f"<div class='cards'>{''.join(cards)}</div>"


def _changes(c: ReportContent) -> str:
    t = lambda key, **kw: labels.text(key, c.lang, **kw)  # noqa: E731
    ch = c.changes
    if ch.previous is None:
        return f"<p>{t('report_first_run')}</p>"
    out = [f"<p>{_e(t('report_previous', date=ch.previous.run_date))}</p>"]
    overall = ch.coverage[ch.coverage["group_level"] == ""]
    head = [
        labels.column_label("label", c.lang),
        labels.column_label("minutes", c.lang),
        t("report_before"),
        t("report_after"),
        t("report_delta"),
    ]
    rows = [
        [
            _e(r.label),
            _n(_num(r.minutes, "{:g}")),
            _n(_pct(r.share_before)),
            _n(_pct(r.share_after)),
            _delta(r.delta, c.lang),
        ]
        for r in overall.itertuples()
    ]
    out.append(_table(head, rows))
    groups = ch.coverage[(ch.coverage["group_level"] != "") & (ch.coverage["delta"].abs() >= 5e-5)]
    out.append(f"<h3>{t('report_group_changes')}</h3>")
    if len(groups):
        groups = groups.reindex(groups["delta"].abs().sort_values(ascending=False).index).head(40)
        rows = [
            [
                _e(r.label),
                _e(r.group_name),
                _n(_num(r.minutes, "{:g}")),
                _n(_pct(r.share_before)),
                _n(_pct(r.share_after)),
                _delta(r.delta, c.lang),
            ]
            for r in groups.itertuples()
        ]
        out.append(_table([head[0], labels.pick("分组", "group", c.lang), *head[1:]], rows))
    else:
        out.append(f"<p>{t('report_no_group_changes')}</p>")
    for key, frame, id_col in (
        ("report_gaps_closed", ch.gaps_closed, "compound_id"),
        ("report_new_gaps", ch.new_gaps, "compound_id"),
        ("report_stations_added", ch.stations_added, "station_id"),
        ("report_stations_removed", ch.stations_removed, "station_id"),
    ):
        out.append(f"<h3>{t(key)} ({len(frame)})</h3>")
        if not len(frame):
            out.append(f"<p>{t('report_none')}</p>")
            continue
        cols = [labels.column_label("label", c.lang), labels.column_label(id_col, c.lang)]
        cols.append(labels.column_label("name", c.lang))
        has_hh = "households" in frame.columns
        if has_hh:
            cols.append(labels.column_label("households", c.lang))
        rows = []
        for r in frame.itertuples():
            row = [_e(c.labels.get(str(r.service), r.service)), _e(getattr(r, id_col)), _e(r.name)]
            if has_hh:
                row.append(_n(_num(r.households)))
            rows.append(row)
        out.append(_table(cols, rows))
    return "".join(out)


def _gaps(c: ReportContent) -> str:
    t = lambda key, **kw: labels.text(key, c.lang, **kw)  # noqa: E731
    out = []
    cols = list(GAP_COLUMNS)  # the same columns as the workbook's gap sheets
    for key, frame in c.gaps.items():
        out.append(f"<h3>{_e(c.labels.get(key, key))}</h3>")
        if not len(frame):
            out.append(f"<p>{t('report_no_gaps')}</p>")
            continue
        rows = []
        for r in frame.head(GAP_ROWS).itertuples():
            rows.append(
                [
                    _n(str(r.rank)),
                    _e(r.compound_id),
                    _e(r.name),
                    _n(_num(r.households)),
                    _e(_text_or_blank(r.nearest_station_id)),
                    _n(_num(r.walk_min, "{:.1f}")),
                    _n(_num(r.minutes_short, "{:.1f}")),
                    _e(labels.reason_label(str(r.reason), c.lang)),
                ]
            )
        out.append(_table([labels.column_label(x, c.lang) for x in cols], rows))
        if len(frame) > GAP_ROWS:
            out.append(
                f"<p class='meta'>{t('report_gap_more', shown=GAP_ROWS, total=len(frame))}</p>"
            )
    return "".join(out)


def _loads(c: ReportContent) -> str:
    out = []
    yes, no = labels.pick("是", "yes", c.lang), labels.pick("否", "no", c.lang)
    for key, frame in c.loads.items():
        out.append(f"<h3>{_e(c.labels.get(key, key))}</h3>")
        ordered = frame.sort_values("households_served", ascending=False, kind="mergesort")
        rows, classes = [], []
        for r in ordered.itertuples():
            over = bool(r.over_capacity)
            rows.append(
                [
                    _e(r.station_id),
                    _e(r.name),
                    _n(_num(r.compounds_served)),
                    _n(_num(r.households_served)),
                    _n(_num(r.capacity)),
                    _n(_pct(r.load_ratio)),
                    f"<b>⚠ {yes}</b>" if over else no,
                ]
            )
            classes.append("over" if over else "")
        head = [labels.column_label(x, c.lang) for x in LOAD_COLUMNS]
        out.append(_table(head, rows, classes=classes))
    return "".join(out)


def _groups(c: ReportContent) -> str:
    if not len(c.groups):
        return f"<p>{labels.text('report_no_groups', c.lang)}</p>"
    out = []
    for key, frame in c.groups.groupby("service", sort=False):
        out.append(f"<h3>{_e(c.labels.get(str(key), str(key)))}</h3>")
        wide = frame.pivot_table(
            index=["group_level", "group_name"],
            columns="minutes",
            values="share_covered",
            sort=False,
        )
        totals = frame.groupby(["group_level", "group_name"], sort=False)["households_total"].max()
        thresholds = list(wide.columns)
        head = [
            labels.pick("分组层级", "level", c.lang),
            labels.pick("分组", "group", c.lang),
            labels.column_label("households_total", c.lang),
            *(f"{m:g} min" for m in thresholds),
        ]
        rows = [
            [_e(level), _e(name), _n(_num(totals[(level, name)]))]
            + [_n(_pct(wide.loc[(level, name), m])) for m in thresholds]
            for level, name in wide.index
        ]
        out.append(_table(head, rows))
    return "".join(out)


def _siting(c: ReportContent) -> str:
    s = c.siting
    if not s:
        return ""
    summary = s["summary"]
    t = lambda key, **kw: labels.text(key, c.lang, **kw)  # noqa: E731
    out = [
        f"<h2>{t('report_siting')}</h2>",
        "<p>"
        + _e(
            t(
                "report_siting_line",
                label=s["label"],
                minutes=float(summary["minutes"]),
                before=float(summary["share_before"]),
                after=float(summary["share_after"]),
                new=summary["new_sites"],
                status=summary["status"],
            )
        )
        + "</p>",
    ]
    if s.get("curve_svg"):
        out.append(f"<div class='chart'>{s['curve_svg']}</div>")
    sites = s["sites"]
    if len(sites):
        head = [labels.column_label(x, c.lang) for x in ("rank", "name")]
        head += [
            labels.pick("来源", "source", c.lang),
            labels.pick("新增覆盖户数", "households added", c.lang),
        ]
        head += ["lon", "lat"]
        rows = [
            [
                _n(str(r.rank)),
                _e(r.name),
                _e(r.source),
                _n(_num(r.households_added)),
                _n(f"{r.lon:.6f}"),
                _n(f"{r.lat:.6f}"),
            ]
            for r in sites.itertuples()
        ]
        out.append(_table(head, rows))
    return "".join(out)


def report_html(c: ReportContent) -> str:
    """The report page.

    Parameters
    ----------
    c
        What to show.

    Returns
    -------
    str
        A complete HTML document with inline styles and SVG charts; no external reference.
    """
    t = lambda key, **kw: labels.text(key, c.lang, **kw)  # noqa: E731
    title = f"{c.study_name} · {t('report_title')}"
    meta = [t("report_date", date=c.run_date)]
    if c.data_date:
        meta.append(t("report_data_date", date=c.data_date))
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if c.lang == "zh" else "en"}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(c.study_name)}</h1><div class='meta'>{_e(t('report_title'))} · "
        f"{_e(' · '.join(meta))}</div>",
    ]
    if c.note:
        parts.append(f"<div class='note' id='note'>{_e(c.note)}</div>")
    parts += [f"<h2>{t('report_headline')}</h2>", _headline(c)]
    if not c.cjk_font:
        parts.append(f"<p class='warn'>{t('report_no_cjk_font')}</p>")
    parts += [f"<div class='chart' id='chart'>{c.chart_svg}</div>"]
    parts += [f"<h2>{t('report_changes')}</h2>", f"<section id='changes'>{_changes(c)}</section>"]
    parts += [f"<h2>{t('report_gap_table')}</h2>", f"<section id='gaps'>{_gaps(c)}</section>"]
    parts += [f"<h2>{t('report_loads')}</h2>", f"<section id='loads'>{_loads(c)}</section>"]
    parts += [f"<h2>{t('report_groups')}</h2>", f"<section id='groups'>{_groups(c)}</section>"]
    parts.append(_siting(c))
    if c.map_file:
        parts += [
            f"<h2>{t('report_map')}</h2>",
            f"<p><a id='map-link' href='{_e(c.map_file)}'>{t('report_map_link')}</a></p>",
        ]
    parts.append(f"<h2>{t('report_inputs')}</h2>")
    rows = []
    for f in c.inputs:
        name = str(f.get("path", "")).replace("\\", "/").rsplit("/", 1)[-1]
        if f.get("missing"):
            rows.append([_e(f.get("role")), _e(name), t("report_missing"), "", ""])
            continue
        digest = str(f.get("sha256") or "")
        rows.append(
            [
                _e(f.get("role")),
                f"<span title='{_e(f.get('path'))}'>{_e(name)}</span>",
                _e(str(f.get("modified", "")).replace("+00:00", "")),
                _n(_num(f.get("size_bytes"))),
                f"<code title='{_e(digest)}'>{_e(digest[:16])}…</code>",
            ]
        )
    head = [t("report_role"), t("report_file"), t("report_modified"), t("report_size")]
    parts.append(_table([*head, t("report_hash")], rows))
    parts.append(f"<h2>{t('report_settings')}</h2>")
    parts.append(
        _table([t("report_setting"), t("report_value")], [[_e(k), _e(v)] for k, v in c.settings])
    )
    parts.append(
        "<p class='meta'>"
        + _e(t("report_footer", version=c.version, run_id=c.run_id, seconds=c.seconds))
        + "</p></main></body></html>"
    )
    return "\n".join(parts)
