"""The user-facing labels and terminal lines, in Chinese and English: one catalogue.

Every text a planner reads outside an error message (column labels, headings, the reasons a
compound is not covered, the command's lines) is one entry here with a Chinese and an English
form. The language is the study's ``language`` key (``"zh"`` by default); the command's
``--lang`` overrides it. Error messages stay bilingual in one line (Chinese first, then
English in brackets), so they need no language.

Examples
--------
>>> text("compounds_line", "zh", count=3, households=1200)
'小区: 3 个，1,200 户'
>>> text("compounds_line", "en", count=3, households=1200)
'Compounds: 3, 1,200 households'
>>> column_label("walk_min", "zh")
'步行分钟'
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COLUMNS",
    "DEFAULT_LANGUAGE",
    "DEMO_NOTE",
    "LANGUAGES",
    "REASONS",
    "TEXTS",
    "check_language",
    "column_label",
    "pick",
    "reason_label",
    "text",
]

#: The languages of user-facing text.
LANGUAGES = ("zh", "en")
#: The language used when neither the study nor the command says otherwise.
DEFAULT_LANGUAGE = "zh"

#: The note every output of the built-in demo carries (Chinese, English; no final stop).
DEMO_NOTE = (
    "示例数据：站点位置与户数均为演示用途，不代表真实情况",
    "Illustrative sample: station locations and household counts are for demonstration only",
)

#: Headings, terminal lines and short words: key -> (Chinese, English); ``str.format`` fields.
TEXTS: dict[str, tuple[str, str]] = {
    # the command's steps
    "step_network": ("读取步行路网", "loading the walk network"),
    "step_inputs": ("读取并检查输入图层", "reading and checking the input layers"),
    "step_analyze": ("计算步行时间与覆盖", "computing walk times and coverage"),
    "step_demo": ("写出示例研究", "writing the sample study"),
    "step_write": ("写出结果文件", "writing the output files"),
    "done": ("完成", "done"),
    "warning": ("警告 (warning)", "warning"),
    # validate
    "study_line": ("研究: {name}", "Study: {name}"),
    "source_line": ("路网来源: {source}", "Network source: {source}"),
    "compounds_from_osm": (
        "小区: 未提供图层，分析时将从 OSM 下载推导（户数为估算）",
        "Compounds: no layer given; they will be derived from OSM when analysing "
        "(households estimated)",
    ),
    "compounds_line": (
        "小区: {count} 个，{households:,.0f} 户",
        "Compounds: {count}, {households:,.0f} households",
    ),
    "stations_line": ("{label}: {count} 个站点", "{label}: {count} stations"),
    "candidates_line": ("候选站址: {count}", "Candidate sites: {count}"),
    "inputs_valid": ("检查通过。", "All inputs are valid."),
    # network
    "network_line": (
        "路网: {nodes:,} 节点, {edges:,} 边, {km:,.1f} km 步行道路, {components} 个连通分量, "
        "最大分量占节点 {largest_share:.1%}",
        "Network: {nodes:,} nodes, {edges:,} edges, {km:,.1f} km of walkable way, "
        "{components} components, {largest_share:.1%} of nodes in the largest",
    ),
    "from_cache": ("缓存", "cache"),
    "built": ("新建", "built"),
    # analyze
    "coverage_line": (
        "{label}（{stations} 个站点）: 户数覆盖率 {shares}; 缺口小区 {gaps} 个",
        "{label} ({stations} stations): households covered {shares}; {gaps} compounds in gaps",
    ),
    "share_part": ("{minutes} min {share}", "{minutes} min {share}"),
    "gap_line": (
        "缺口 {rank}: {name}（{households:,.0f} 户，{why}）",
        "gap {rank}: {name} ({households:,.0f} households, {why})",
    ),
    "walk_minutes": ("步行 {minutes:.1f} 分钟", "{minutes:.1f} min walk"),
    "written": ("已写出: ", "Written: "),
    # demo
    "demo_note": (DEMO_NOTE[0] + "。", DEMO_NOTE[1] + "."),
    "demo_study_file": ("示例研究文件: {path}", "Sample study file: {path}"),
    # notebook / HTML headings
    "coverage_heading": ("户数覆盖率", "Households covered"),
    "services_count": ("{count} 类服务", "{count} service types"),
}

#: Reasons a compound is not covered (``reason`` column): value -> (Chinese, English).
REASONS: dict[str, tuple[str, str]] = {
    "": ("已覆盖", "covered"),
    "beyond_threshold": ("步行超出阈值", "walk beyond the threshold"),
    "unreachable": ("路网不连通，无法到达", "unreachable on the walk network"),
    "far_from_network": ("距步行道路过远", "too far from any walkable way"),
    "no_access": ("按研究的接入规则没有出入口", "no way out under the study's access rule"),
}

#: Labels of output columns: column -> (Chinese, English).
COLUMNS: dict[str, tuple[str, str]] = {
    "service": ("服务类型", "service"),
    "label": ("服务", "service"),
    "compound_id": ("小区编号", "compound id"),
    "station_id": ("站点编号", "station id"),
    "nearest_station_id": ("最近站点", "nearest station"),
    "name": ("名称", "name"),
    "households": ("户数", "households"),
    "walk_min": ("步行分钟", "walk minutes"),
    "minutes": ("阈值（分钟）", "threshold (min)"),
    "minutes_short": ("差几分钟", "minutes short"),
    "reason": ("未覆盖原因", "reason"),
    "rank": ("排名", "rank"),
    "households_total": ("总户数", "households"),
    "households_covered": ("覆盖户数", "households covered"),
    "share_covered": ("户数覆盖率", "share covered"),
    "compounds_total": ("小区数", "compounds"),
    "compounds_covered": ("覆盖小区数", "compounds covered"),
    "compounds_served": ("服务小区数", "compounds served"),
    "households_served": ("服务户数", "households served"),
    "capacity": ("容量（户）", "capacity (households)"),
    "over_capacity": ("超出容量", "over capacity"),
    "load_ratio": ("负荷率", "load ratio"),
}


def check_language(lang: str | None) -> str:
    """Return a supported language, :data:`DEFAULT_LANGUAGE` for ``None``.

    Parameters
    ----------
    lang
        ``"zh"``, ``"en"`` or ``None``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For any other value.
    """
    if lang is None:
        return DEFAULT_LANGUAGE
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return lang


def pick(zh: str, en: str, lang: str | None) -> str:
    """Return the Chinese or the English form.

    Parameters
    ----------
    zh, en
        The two forms.
    lang
        ``"zh"``, ``"en"`` or ``None`` (the default language).

    Returns
    -------
    str
    """
    return en if check_language(lang) == "en" else zh


def text(key: str, lang: str | None, **values: Any) -> str:
    """Return the catalogue entry ``key`` in ``lang``, formatted with ``values``.

    Parameters
    ----------
    key
        A key of :data:`TEXTS`.
    lang
        ``"zh"``, ``"en"`` or ``None`` (the default language).
    **values
        The entry's ``str.format`` fields.

    Returns
    -------
    str
    """
    zh, en = TEXTS[key]
    return pick(zh, en, lang).format(**values)


def reason_label(reason: str, lang: str | None) -> str:
    """Return the label of a ``reason`` value (the value itself when unknown).

    Parameters
    ----------
    reason
        A value of the ``reason`` column.
    lang
        ``"zh"``, ``"en"`` or ``None``.

    Returns
    -------
    str
    """
    zh, en = REASONS.get(reason, (reason, reason))
    return pick(zh, en, lang)


def column_label(column: str, lang: str | None) -> str:
    """Return the label of an output column (the column name itself when unknown).

    Per-threshold columns read as their threshold: ``covered_15min`` -> ``15 分钟内覆盖``.

    Parameters
    ----------
    column
        An output column name.
    lang
        ``"zh"``, ``"en"`` or ``None``.

    Returns
    -------
    str

    Examples
    --------
    >>> column_label("covered_15min", "zh"), column_label("covered_15min", "en")
    ('15 分钟内覆盖', 'covered within 15 min')
    """
    if column in COLUMNS:
        return pick(*COLUMNS[column], lang)
    for prefix, zh, en in (
        ("covered_", "{m} 分钟内覆盖", "covered within {m} min"),
        ("stations_within_", "{m} 分钟内站点数", "stations within {m} min"),
        ("households_served_within_", "{m} 分钟内服务户数", "households served within {m} min"),
    ):
        if column.startswith(prefix) and column.endswith("min"):
            return pick(zh, en, lang).format(m=column[len(prefix) : -3])
    return column
