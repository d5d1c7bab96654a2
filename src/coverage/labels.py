"""The user-facing labels and terminal lines, in Chinese and English: one catalogue.

Every text a planner reads outside an error message (column labels, headings, the reasons a
compound is not covered, the command's lines) is one entry here with a Chinese and an English
form. The language is the study's ``language`` key (``"zh"`` by default); the command's
``--lang`` overrides it. Error messages are one line, Chinese first with the English in
brackets for ``"zh"`` and English only for ``"en"`` (:func:`pick` of the two forms).

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
    "REPORT_TEXTS",
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
    "compounds_estimated_part": (
        "（估算 (estimated) 户数占 {share:.1%}）",
        " ({share:.1%} of households estimated)",
    ),
    "coverage_estimated_part": (
        "；户数含估算 (estimated) {share:.1%}",
        "; {share:.1%} of households estimated",
    ),
    "estimated_note": (
        "户数为估算 (estimated)：由 OSM 建筑面积推算的户数占 {share:.1%}，仅供参考",
        "Households are partly or wholly estimated: {share:.1%} come from OSM building floor "
        "area and are approximate",
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
    "gap_line_estimated": (
        "缺口 {rank}: {name}（{households:,.0f} 户 估算 (estimated)，{why}）",
        "gap {rank}: {name} ({households:,.0f} households estimated, {why})",
    ),
    "walk_minutes": ("步行 {minutes:.1f} 分钟", "{minutes:.1f} min walk"),
    "written": ("已写出: ", "Written: "),
    # demo
    "demo_note": (DEMO_NOTE[0] + "。", DEMO_NOTE[1] + "."),
    "demo_study_file": ("示例研究文件: {path}", "Sample study file: {path}"),
    # notebook / HTML headings
    "coverage_heading": ("户数覆盖率", "Households covered"),
    "services_count": ("{count} 类服务", "{count} service types"),
    # click's usage errors (coverage.usage_errors): the Chinese, then click's English
    "usage_prefix": ("用法 / Usage: ", "Usage: "),
    "usage_try_help": (
        "试试 '{command}' 查看帮助 / Try '{command}' for help.",
        "Try '{command}' for help.",
    ),
    "usage_error": ("错误：{message}", "Error: {message}"),
    "usage_missing_argument": ("缺少参数 {name}", "Missing argument {name}"),
    "usage_missing_option": ("缺少选项 {name}", "Missing option {name}"),
    "usage_bad_choice": (
        "{name} 的值无效，可选：{choices}",
        "Invalid value for {name}, choose one of {choices}",
    ),
    "usage_out_of_range": ("{name} 的值超出范围 {range}", "{name} is out of range {range}"),
    "usage_bad_int": ("{name} 须为整数", "{name} must be an integer"),
    "usage_bad_float": ("{name} 须为数字", "{name} must be a number"),
    "usage_no_path": ("{name} 指定的文件或文件夹不存在", "{name}: no such file or folder"),
    "usage_bad_value": ("{name} 的值无效", "Invalid value for {name}"),
    "usage_no_such_option": ("没有选项 {name}", "No such option {name}"),
    "usage_no_such_command": ("没有命令 {name}", "No such command {name}"),
    "usage_did_you_mean": ("（是否想用 {names}？）", " (did you mean {names}?)"),
    "usage_needs_value": ("选项 {name} 后面需要一个值", "Option {name} requires a value"),
    "usage_takes_no_value": ("选项 {name} 不接受值", "Option {name} takes no value"),
    "usage_bad_option": ("选项 {name} 用法有误", "Option {name} used wrongly"),
    "usage_extra_arguments": ("多余的参数 {args}", "Unexpected extra arguments {args}"),
    "usage_wrong": ("命令用法有误", "Wrong usage"),
    "usage_failed": ("命令失败", "The command failed"),
    "usage_aborted": ("已中止 / Aborted!", "Aborted!"),
}

#: Reasons a compound is not covered (``reason`` column): value -> (Chinese, English).
REASONS: dict[str, tuple[str, str]] = {
    "": ("已覆盖", "covered"),
    "beyond_threshold": ("步行超出阈值", "walk beyond the threshold"),
    "unreachable": ("路网不连通，无法到达", "unreachable on the walk network"),
    "far_from_network": ("距步行道路过远", "too far from any walkable way"),
    "no_access": ("按研究的接入规则没有出入口", "no way out under the study's access rule"),
    "outside_network_data": (
        "位于路网数据范围之外或边缘，需更大范围的地图数据",
        "outside the network data or at its edge: needs a larger map extract",
    ),
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
    "households_estimated": ("估算户数", "households estimated"),
    "share_estimated": ("估算户数占比", "share of households estimated"),
    "households_source": ("户数来源", "households source"),
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


#: The scheduled report's headings and lines (``report.html``, the ``report`` command).
REPORT_TEXTS: dict[str, tuple[str, str]] = {
    "report_title": ("覆盖缺口报告", "Coverage-gap report"),
    "report_date": ("报告日期 {date}", "Report date {date}"),
    "report_data_date": ("数据日期 {date}", "Data date {date}"),
    "report_headline": ("各类服务覆盖情况", "Coverage per service type"),
    "report_stations": ("站点数", "stations"),
    "report_gaps_count": ("缺口小区", "compounds in gaps"),
    "report_over_capacity": ("超负荷站点", "stations over capacity"),
    "report_chart_title": ("各阈值内覆盖户数", "Households covered by threshold"),
    "report_chart_x": ("服务类型", "service type"),
    "report_chart_y": ("户数", "households"),
    "report_chart_total": ("总户数", "all households"),
    "report_no_cjk_font": (
        "未找到中文字体（如 Debian 软件包 fonts-noto-cjk），图表中的文字改用英文。",
        "No CJK font found (e.g. Debian's fonts-noto-cjk): chart labels are in English.",
    ),
    "report_changes": ("与上次报告相比", "Change since the previous report"),
    "report_first_run": (
        "这是本研究的第一份报告，下次运行时将显示变化。",
        "This is the study's first report; the next run will show what changed.",
    ),
    "report_previous": ("上次报告: {date}", "Previous report: {date}"),
    "report_before": ("上次", "before"),
    "report_after": ("本次", "now"),
    "report_delta": ("变化", "change"),
    "report_up": ("上升 {pp:.1f} 个百分点", "up {pp:.1f} pp"),
    "report_down": ("下降 {pp:.1f} 个百分点", "down {pp:.1f} pp"),
    "report_same": ("不变", "unchanged"),
    "report_group_changes": ("覆盖率有变化的分组", "Groups whose coverage changed"),
    "report_no_group_changes": ("各分组覆盖率均无变化。", "No group's coverage changed."),
    "report_gaps_closed": ("已消除的缺口", "Gaps closed"),
    "report_new_gaps": ("新出现的缺口", "New gaps"),
    "report_stations_added": ("新增站点", "Stations added"),
    "report_stations_removed": ("撤销站点", "Stations removed"),
    "report_none": ("无", "none"),
    "report_gap_table": ("缺口小区（按未覆盖户数排序）", "Gaps, ranked by households left out"),
    "report_gap_more": (
        "仅列出前 {shown} 个，共 {total} 个；完整列表见 gaps.xlsx。",
        "The first {shown} of {total}; gaps.xlsx has them all.",
    ),
    "report_no_gaps": ("没有缺口小区。", "No compound is left out."),
    "report_loads": ("站点负荷", "Station loads"),
    "report_groups": ("按街道/社区分组的覆盖率", "Coverage by street and community"),
    "report_no_groups": (
        "小区图层没有街道、社区等分组列（可用研究文件的 group_by 指定）。",
        "The compound layer has no street or community columns (see the study's group_by).",
    ),
    "report_siting": ("新站选址", "Siting new stations"),
    "report_curve_title": ("新增站点数与覆盖率", "Coverage against new sites"),
    "report_curve_x": ("新增站点数", "new sites"),
    "report_curve_y": ("户数覆盖率 (%)", "households covered (%)"),
    "report_siting_line": (
        "{label}，{minutes:g} 分钟: 覆盖率 {before:.1%} -> {after:.1%}（新增 {new} 个站点，"
        "求解状态 {status}）",
        "{label}, {minutes:g} min: {before:.1%} -> {after:.1%} with {new} new sites "
        "(solver status {status})",
    ),
    "report_map": ("地图", "Map"),
    "report_map_link": (
        "打开交互式地图 map.html（与本报告在同一文件夹，离线可用）",
        "Open the interactive map map.html (in this report's folder, works offline)",
    ),
    "report_inputs": ("输入文件", "Input files"),
    "report_role": ("用途", "role"),
    "report_file": ("文件", "file"),
    "report_modified": ("修改时间 (UTC)", "modified (UTC)"),
    "report_size": ("大小 (字节)", "size (bytes)"),
    "report_hash": ("SHA-256", "SHA-256"),
    "report_missing": ("文件缺失", "missing"),
    "report_settings": ("设置", "Settings"),
    "report_setting": ("设置项", "setting"),
    "report_value": ("值", "value"),
    "report_footer": (
        "由 coverage-planner {version} 生成，运行编号 {run_id}，用时 {seconds:.1f} 秒。",
        "Made by coverage-planner {version}, run {run_id}, in {seconds:.1f} s.",
    ),
    "report_all": ("全部", "all"),
    "report_written": ("报告: {path}", "Report: {path}"),
    "report_change_line": (
        "与 {date} 相比: {label} {minutes:g} 分钟覆盖率 {before:.1%} -> {after:.1%}",
        "since {date}: {label} {minutes:g} min {before:.1%} -> {after:.1%}",
    ),
    "report_change_counts": (
        "缺口消除 {closed} 个，新增缺口 {new} 个，新增站点 {added} 个，撤销站点 {removed} 个",
        "{closed} gaps closed, {new} new gaps, {added} stations added, {removed} removed",
    ),
    "report_locked": (
        "研究 {slug} 的另一次报告运行仍在进行（锁文件 {lock}），已等待 {wait:g} 秒；"
        "请稍后再试，或用 --wait 秒数 等待更久",
        "another report run of study {slug} holds its lock ({lock}); waited {wait:g} s. "
        "Try again later or give --wait SECONDS",
    ),
    "report_unwritable": (
        "无法写入输出文件夹 {path}: {error}；请检查权限或换一个 --out 文件夹",
        "cannot write the output folder {path}: {error}; check its permissions or choose "
        "another --out",
    ),
}
TEXTS.update(REPORT_TEXTS)
