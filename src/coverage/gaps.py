"""Coverage, gaps and station loads computed from travel tables.

This module never walks the network: it reads the two tables that :mod:`coverage.travel`
produces (the *nearest* table, one row per compound, and the *long* table of every
compound-station pair within the largest threshold) and turns them into

- :func:`assess_coverage`: one row per compound, covered or not at each threshold;
- :func:`summarize_coverage` / :func:`summary_dict`: household and compound totals per
  threshold (optionally per community, street or district);
- :func:`station_load`: households assigned to each station (nearest-station assignment);
- :func:`rank_gaps`: the uncovered compounds, worst first;
- :func:`group_columns`: the compound columns coverage is broken down by (district, street,
  community).

Decisions
---------
- A compound is covered at threshold ``T`` when its nearest walk time ``walk_min <= T``:
  a walk of exactly ``T`` minutes counts as covered. No tolerance is added.
- Coverage depends on ``walk_min`` alone. The ``reason`` column explains a gap: ``""`` when
  covered at the largest threshold, else the travel table's reason (``"unreachable"``,
  ``"far_from_network"``, ``"no_access"``) when it gave one, else ``"unreachable"`` when
  ``walk_min`` is NaN, else ``"beyond_threshold"``.
- ``share_covered`` is NaN when a group has no households at all (0 / 0 is undefined, not 0
  and not 1); :func:`summary_dict` writes it as ``None`` (JSON ``null``).
- Station load assigns every compound with a finite walk time to its nearest station, however
  far; ``households_served_within_<T>min`` counts only those within the largest threshold.
  A station is over capacity when it serves strictly more households than its capacity.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage._validate import id_problems, missing_columns
from coverage.config import DEFAULT_MINUTES
from coverage.errors import CoverageWarning, InputError, Problem

__all__ = [
    "GROUP_LEVELS",
    "REASONS",
    "assess_coverage",
    "covered_column",
    "group_columns",
    "minutes_label",
    "rank_gaps",
    "station_load",
    "stations_within_column",
    "summarize_coverage",
    "summary_dict",
    "summary_dict_from_summaries",
]

log = logging.getLogger(__name__)

#: Values of the ``reason`` column of :func:`assess_coverage` ("" = covered).
REASONS = (
    "",
    "beyond_threshold",
    "unreachable",
    "far_from_network",
    "no_access",
    "outside_network_data",  # given by coverage.dataedge after assess_coverage
)
_TRAVEL_REASONS = ("", "unreachable", "far_from_network", "no_access")
_FIXED = (
    "compound_id",
    "name",
    "service",
    "households",
    "nearest_station_id",
    "walk_min",
    "reason",
    "minutes_short",
    "geometry",
)
_COVERED_RE = re.compile(r"^covered_(.+)min$")
_MAX_IDS = 20


@dataclass(frozen=True)
class _Options:
    """The plain parameters of one service type."""

    key: str
    minutes: tuple[float, ...]
    weight_column: str
    capacity: float | None


def _options(
    service: Any,
    *,
    minutes: Sequence[float] | None = None,
    weight_column: str | None = None,
    capacity: float | None = None,
    table: pd.DataFrame | None = None,
) -> _Options:
    """Plain parameters, with defaults from a service object or from an assessed table.

    ``service`` is the service key (str). A :class:`coverage.config.Service` is accepted too:
    its thresholds, weight column and capacity are then the defaults. Without thresholds,
    those of ``table`` (its ``covered_<T>min`` columns) are used, else the study default.
    """
    key = service
    if service is not None and not isinstance(service, str):
        key = service.key
        minutes = service.minutes if minutes is None else minutes
        weight_column = service.weight_column if weight_column is None else weight_column
        capacity = service.capacity if capacity is None else capacity
    if key is None and table is not None:
        key = table.attrs.get("service")
        if key is None and "service" in table.columns and len(table):
            key = table["service"].iloc[0]
    if minutes is None and table is not None:
        found = sorted(float(m.group(1)) for c in table.columns if (m := _COVERED_RE.match(str(c))))
        minutes = found or None
    return _Options(
        key="" if key is None else str(key),
        minutes=tuple(DEFAULT_MINUTES if minutes is None else minutes),
        weight_column="households" if weight_column is None else weight_column,
        capacity=capacity,
    )


def minutes_label(minutes: float) -> str:
    """Format a threshold for column names and JSON keys: ``5.0 -> "5"``, ``7.5 -> "7.5"``.

    Parameters
    ----------
    minutes
        A threshold in minutes.

    Returns
    -------
    str

    Examples
    --------
    >>> minutes_label(15.0), minutes_label(7.5)
    ('15', '7.5')
    """
    m = float(minutes)
    return str(int(m)) if m.is_integer() else repr(m)


def covered_column(minutes: float) -> str:
    """Name of the boolean coverage column for a threshold, e.g. ``covered_15min``."""
    return f"covered_{minutes_label(minutes)}min"


def stations_within_column(minutes: float) -> str:
    """Name of the station-count column for a threshold, e.g. ``stations_within_15min``."""
    return f"stations_within_{minutes_label(minutes)}min"


# --------------------------------------------------------------------------------------------
# validation helpers


def _ids(values: Iterable[Any]) -> str:
    vals = sorted(map(str, values))
    more = f" … ({len(vals)} 个 in total)" if len(vals) > _MAX_IDS else ""
    return ", ".join(vals[:_MAX_IDS]) + more


def _check_columns(
    table: pd.DataFrame, required: Sequence[str], what: str, problems: list[Problem]
) -> bool:
    missing = missing_columns(table.columns, required, file=what)
    problems += missing
    return not missing


def _check_known(ids: pd.Index, known: pd.Index, what: str, problems: list[Problem]) -> None:
    """Record compound ids of a travel table that are not in the compound layer."""
    if len(unknown := ids.difference(known)):
        problems.append(
            Problem(what, f"未知小区 (unknown compound ids): {_ids(unknown)}", column="compound_id")
        )


def _check_minutes(opts: _Options, problems: list[Problem]) -> None:
    m = [float(x) for x in opts.minutes]
    ok = (
        len(m) > 0
        and all(math.isfinite(x) and x > 0 for x in m)
        and all(b > a for a, b in itertools.pairwise(m))
    )
    if not ok:
        problems.append(
            Problem(
                "service",
                "阈值必须为正数且严格递增 (thresholds must be positive and strictly "
                f"increasing), got {list(opts.minutes)}",
                key=f"services.{opts.key}.minutes",
            )
        )


def _raise(problems: list[Problem], header: str) -> None:
    if problems:
        raise InputError(problems, header=header)


def _validate_assess_inputs(
    compounds: pd.DataFrame, nearest: pd.DataFrame, within: pd.DataFrame, opts: _Options
) -> None:
    problems: list[Problem] = []
    _check_minutes(opts, problems)
    weight = opts.weight_column
    if _check_columns(
        compounds, ["compound_id", "name", weight, "geometry"], "compounds", problems
    ):
        problems += id_problems(compounds["compound_id"], file="compounds", column="compound_id")
        w = compounds[weight]
        if not pd.api.types.is_numeric_dtype(w) or pd.api.types.is_bool_dtype(w):
            problems.append(
                Problem("compounds", "需求权重必须是数值 (weight must be numeric)", column=weight)
            )
        elif w.isna().any() or (w < 0).any():
            bad = compounds.loc[w.isna() | (w < 0), "compound_id"]
            problems.append(
                Problem(
                    "compounds",
                    f"需求权重必须为非负数 (weight must be a number >= 0): {_ids(bad)}",
                    column=weight,
                )
            )
    ok_n = _check_columns(
        nearest, ["compound_id", "nearest_station_id", "walk_min", "reason"], "nearest", problems
    )
    ok_w = _check_columns(within, ["compound_id", "station_id", "walk_min"], "long table", problems)
    if problems:
        _raise(problems, "行程表与小区不一致 (travel tables do not match the compounds):")
    # pandas Index set operations: a Python set of 20,000 arrow strings costs a tenth of a second
    known = pd.Index(compounds["compound_id"]).unique()
    if ok_n:
        problems += id_problems(nearest["compound_id"], file="nearest", column="compound_id")
        got = pd.Index(nearest["compound_id"].dropna()).unique()
        if len(missing := known.difference(got)):
            problems.append(
                Problem(
                    "nearest",
                    f"缺少小区 (compounds missing): {_ids(missing)}",
                    column="compound_id",
                )
            )
        _check_known(got, known, "nearest", problems)
        walk = pd.to_numeric(nearest["walk_min"], errors="coerce")
        if (walk < 0).any() or np.isinf(walk).any():
            problems.append(
                Problem(
                    "nearest",
                    "步行时间必须 >= 0 或为空 (walk_min must be >= 0 or NaN)",
                    column="walk_min",
                )
            )
        if (walk.notna() & nearest["nearest_station_id"].isna()).any():
            problems.append(
                Problem(
                    "nearest",
                    "有步行时间却无站点 (walk_min given without nearest_station_id)",
                    column="nearest_station_id",
                )
            )
        reasons = set(nearest["reason"].fillna("").unique()) - set(_TRAVEL_REASONS)
        if reasons:
            problems.append(
                Problem(
                    "nearest", f"未知原因 (unknown reason values): {_ids(reasons)}", column="reason"
                )
            )
    if ok_w:
        _check_known(
            pd.Index(within["compound_id"].dropna()).unique(), known, "long table", problems
        )
        walk = pd.to_numeric(within["walk_min"], errors="coerce")
        if walk.isna().any() or (walk < 0).any():
            problems.append(
                Problem(
                    "long table",
                    "步行时间必须 >= 0 (walk_min must be a number >= 0)",
                    column="walk_min",
                )
            )
    _raise(problems, "行程表与小区不一致 (travel tables do not match the compounds):")


# --------------------------------------------------------------------------------------------
# coverage per compound


def _station_counter(
    compound_ids: pd.Series, within: pd.DataFrame, pair_walk: np.ndarray
) -> Callable[[float], np.ndarray]:
    """A function giving, per compound, the number of distinct stations within ``t`` minutes.

    The pairs are coded once (compound position, station code; pairs with a missing id are
    not counted, as ``groupby(...).nunique()`` would not), sorted by walk time, and made
    distinct at their first (fastest) row; a threshold then counts one prefix.
    """
    comp = pd.Index(compound_ids).get_indexer(pd.Index(within["compound_id"]))
    stn, uniques = pd.factorize(within["station_id"])
    ok = (comp >= 0) & (stn >= 0)
    key = comp[ok].astype(np.int64) * max(len(uniques), 1) + stn[ok]
    walk = pair_walk[ok]
    order = np.lexsort((walk, key))
    key, walk = key[order], walk[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=bool)
    owner = key[first] // max(len(uniques), 1)
    best = walk[first]
    n = len(compound_ids)

    def count(t: float) -> np.ndarray:
        return np.bincount(owner[best <= t], minlength=n).astype(np.int64)

    return count


def assess_coverage(
    compounds: gpd.GeoDataFrame,
    nearest: pd.DataFrame,
    within: pd.DataFrame,
    *,
    minutes: Sequence[float] | None = None,
    weight_column: str | None = None,
    service: str | Any = "",
) -> gpd.GeoDataFrame:
    """Decide, for every compound, whether a station of one service type is within reach.

    Parameters
    ----------
    compounds
        The compound layer (``compound_id``, ``name``, the weight column, ``geometry``; any
        other columns such as ``community``, ``street``, ``district`` are passed through).
    nearest
        The nearest-station table: ``compound_id``, ``nearest_station_id``, ``walk_min``,
        ``reason``; exactly one row per compound.
    within
        The long table: ``compound_id``, ``station_id``, ``walk_min`` for every pair within
        (at least) the largest threshold. Compounds with no station in reach have no rows.
    minutes
        Thresholds in minutes, positive and strictly increasing (default ``5, 10, 15``).
    weight_column
        The compounds' demand column (default ``households``).
    service
        The service key written in the ``service`` column and in messages. A
        :class:`coverage.config.Service` is accepted too: its ``minutes`` and
        ``weight_column`` are then the defaults.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per compound, in the compounds' order: ``compound_id``, ``name``, ``service``,
        ``households`` (the weight column's values), ``nearest_station_id`` (NA when none),
        ``walk_min`` (NaN when unreachable), ``covered_<T>min`` (bool) and
        ``stations_within_<T>min`` (int64) for each threshold ``T``, ``reason``,
        ``minutes_short`` (``walk_min`` minus the largest threshold; NaN when covered or
        unreachable), the passed-through columns and ``geometry``. ``attrs`` holds
        ``service``, ``weight_column`` and ``minutes``.

    Raises
    ------
    InputError
        When a required column is missing, a compound is missing from the nearest table or
        an unknown compound appears in either table, ids repeat, weights are negative or
        missing, walk times are negative, or the thresholds are not positive and strictly
        increasing.

    Warns
    -----
    CoverageWarning
        When the long table disagrees with the nearest table (a compound covered at ``T``
        without a station within ``T`` in the long table, or the reverse): usually the long
        table was computed with a limit below the largest threshold.
    """
    opts = _options(service, minutes=minutes, weight_column=weight_column)
    _validate_assess_inputs(compounds, nearest, within, opts)
    thresholds = [float(t) for t in opts.minutes]
    tmax = thresholds[-1]
    weight = opts.weight_column

    near = nearest[["compound_id", "nearest_station_id", "walk_min", "reason"]]
    out = compounds[["compound_id", "name"]].merge(near, on="compound_id", how="left")
    walk = pd.to_numeric(out["walk_min"], errors="coerce").astype("float64")
    out["walk_min"] = walk
    out["nearest_station_id"] = out["nearest_station_id"].where(walk.notna())
    out.insert(2, "service", opts.key)
    out.insert(3, "households", compounds[weight].astype("float64").to_numpy())

    pair_walk = pd.to_numeric(within["walk_min"]).to_numpy(dtype="float64")
    count_within = _station_counter(out["compound_id"], within, pair_walk)
    inconsistent: set[Any] = set()
    for t in thresholds:
        covered = (walk <= t).to_numpy()
        counts = count_within(t)
        out[covered_column(t)] = covered
        out[stations_within_column(t)] = counts
        inconsistent |= set(out.loc[covered != (counts > 0), "compound_id"])

    covered_max = (walk <= tmax).to_numpy()
    given = out.pop("reason").fillna("").astype(str)
    fallback = np.where(walk.isna(), "unreachable", "beyond_threshold")
    out["reason"] = np.where(covered_max, "", np.where(given != "", given, fallback))
    out["minutes_short"] = (walk - tmax).where(~covered_max)

    extra = [c for c in compounds.columns if c not in _FIXED and c != weight and c not in out]
    for c in extra:
        out[c] = compounds[c].to_numpy()
    out["geometry"] = compounds.geometry.to_numpy()
    result = gpd.GeoDataFrame(out, geometry="geometry", crs=compounds.crs)
    result.attrs = {"service": opts.key, "weight_column": weight, "minutes": thresholds}

    if inconsistent:
        warnings.warn(
            f"{opts.key}: 最近站点表与长表不一致 (nearest and long tables disagree; was "
            f"the long table computed with limit >= {minutes_label(tmax)} min?): "
            f"{_ids(inconsistent)}",
            CoverageWarning,
            stacklevel=2,
        )
    total = float(result["households"].sum())
    cov = float(result.loc[covered_max, "households"].sum())
    log.info(
        "%s: %d/%d compounds covered within %s min (%s of %s households)",
        opts.key,
        int(covered_max.sum()),
        len(result),
        minutes_label(tmax),
        f"{cov:g}",
        f"{total:g}",
    )
    return result


# --------------------------------------------------------------------------------------------
# groups

# usual grouping columns of Chinese compound tables, coarse to fine (one per level)
GROUP_LEVELS: tuple[tuple[str, ...], ...] = (
    ("district", "区县", "区", "县", "county"),
    ("street", "街道", "街道办", "乡镇", "subdistrict", "town"),
    ("community", "社区", "村", "居委会", "村委会"),
)


def group_columns(
    compounds: pd.DataFrame, *, group_by: Sequence[str] = (), source: str = "compounds"
) -> list[str]:
    """Return the compound columns coverage is broken down by, coarse to fine.

    Parameters
    ----------
    compounds
        The compounds.
    group_by
        The columns to use (a study's ``group_by``); when empty, the usual columns found are
        used (:data:`GROUP_LEVELS`: district/区县, street/街道, community/社区; at most one
        of each, matched case-insensitively).
    source
        The compound layer's file, named in the error.

    Returns
    -------
    list of str

    Raises
    ------
    InputError
        A ``group_by`` column is not in the compound layer.

    Examples
    --------
    >>> group_columns(pd.DataFrame(columns=["name", "社区", "Street"]))
    ['Street', '社区']
    """
    if group_by:
        missing = [c for c in group_by if c not in compounds.columns]
        if missing:
            raise InputError(
                [
                    Problem(
                        source,
                        "研究文件 group_by 中的列不存在 (the study's group_by column is not in "
                        f"the compound layer); available: {', '.join(map(str, compounds.columns))}",
                        column=c,
                    )
                    for c in missing
                ]
            )
        return list(group_by)
    lower = {str(c).strip().lower(): c for c in compounds.columns}
    found = []
    for names in GROUP_LEVELS:
        hit = next((lower[n] for n in names if n in lower), None)
        if hit is not None:
            found.append(hit)
    return found


# --------------------------------------------------------------------------------------------
# summaries


def _aggregate(long: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return long.groupby(keys, dropna=False, sort=True).agg(
        households_total=("households", "sum"),
        households_covered=("households_covered", "sum"),
        compounds_total=("covered", "size"),
        compounds_covered=("covered", "sum"),
    )


def summarize_coverage(
    assessed: pd.DataFrame,
    *,
    minutes: Sequence[float] | None = None,
    by: Sequence[str] = (),
    service: str | Any | None = None,
) -> pd.DataFrame:
    """Count covered households and compounds per threshold, overall and per group.

    Parameters
    ----------
    assessed
        The result of :func:`assess_coverage`.
    minutes
        The thresholds to summarise (default: those of ``assessed``, its ``covered_<T>min``
        columns).
    service
        The service key of the ``service`` column (default: that of ``assessed``). A
        :class:`coverage.config.Service` is accepted too (its ``minutes`` are the default).
    by
        Grouping columns of ``assessed``, e.g. ``("district", "street", "community")``.
        Compounds with a missing group value form their own (NA) group.

    Returns
    -------
    pandas.DataFrame
        Columns ``service``, ``scope`` (``"overall"`` or ``"group"``), the ``by`` columns (NA
        on overall rows), ``minutes``, ``households_total``, ``households_covered``,
        ``share_covered`` (``households_covered / households_total``; NaN when the total is
        0), ``compounds_total``, ``compounds_covered``; when ``assessed`` has
        ``households_source``, also ``households_estimated`` (households whose count is
        ``"estimated"``) and ``share_estimated`` (of ``households_total``). Overall rows come
        first, then the groups sorted by their values; thresholds ascending within each.

    Raises
    ------
    InputError
        When the thresholds are invalid or a ``by`` or ``covered_<T>min`` column is missing.
    """
    by = list(by)
    opts = _options(service, minutes=minutes, table=assessed)
    problems: list[Problem] = []
    _check_minutes(opts, problems)
    _raise(problems, "无法汇总覆盖率 (cannot summarise coverage):")
    thresholds = [float(t) for t in opts.minutes]
    cov_cols = {covered_column(t): t for t in thresholds}
    _check_columns(assessed, ["households", *cov_cols, *by], "assessed", problems)
    _raise(problems, "无法汇总覆盖率 (cannot summarise coverage):")

    long = assessed[[*by, "households", *cov_cols]].melt(
        id_vars=[*by, "households"], var_name="minutes", value_name="covered"
    )
    long["minutes"] = long["minutes"].map(cov_cols).astype("float64")
    long["covered"] = long["covered"].astype(bool)
    long["households_covered"] = long["households"].where(long["covered"], 0.0)

    overall = _aggregate(long, ["minutes"]).reindex(pd.Index(thresholds, name="minutes"))
    overall = overall.fillna(0).reset_index()
    overall.insert(0, "scope", "overall")
    parts = [overall]
    if by:
        groups = _aggregate(long, [*by, "minutes"]).reset_index()
        groups.insert(0, "scope", "group")
        parts.append(groups)
    out = pd.concat(parts, ignore_index=True) if by else overall
    out.insert(0, "service", opts.key)
    for c in ("households_total", "households_covered"):
        out[c] = out[c].astype("float64")
    for c in ("compounds_total", "compounds_covered"):
        out[c] = out[c].astype("int64")
    total = out["households_total"]
    out["share_covered"] = out["households_covered"] / total.where(total > 0)
    out = out[
        [
            "service",
            "scope",
            *by,
            "minutes",
            "households_total",
            "households_covered",
            "share_covered",
            "compounds_total",
            "compounds_covered",
        ]
    ]
    return _with_estimated(out, assessed, by)


def _with_estimated(summary: pd.DataFrame, assessed: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Add ``households_estimated`` and ``share_estimated`` (of ``households_total``) when
    ``assessed`` says which counts are estimated (``households_source``)."""
    if "households_source" not in assessed.columns:
        return summary
    estimated = assessed["households_source"].astype("string").eq("estimated").fillna(False)
    weights = assessed["households"].where(estimated.to_numpy(dtype=bool), 0.0)
    out = summary.copy()
    out["households_estimated"] = float(weights.sum())
    if by:
        per_group = (
            weights.groupby([assessed[c] for c in by], dropna=False)
            .sum()
            .rename("_est")
            .reset_index()
        )
        groups = out["scope"] == "group"
        merged = out.loc[groups, by].merge(per_group, on=by, how="left")
        out.loc[groups, "households_estimated"] = merged["_est"].fillna(0.0).to_numpy()
    total = out["households_total"]
    out["share_estimated"] = out["households_estimated"] / total.where(total > 0)
    return out


def summary_dict(
    assessed_by_service: Mapping[str, pd.DataFrame],
    services: Mapping[str, Any] | Iterable[Any],
) -> dict[str, Any]:
    """Overall coverage of every service as a JSON-ready dictionary.

    Parameters
    ----------
    assessed_by_service
        :func:`assess_coverage` results keyed by service key.
    services
        The service types: objects with ``key``, ``label_zh``, ``label_en`` and ``minutes``
        (``Study.services`` or any iterable of :class:`coverage.config.Service`); the output
        follows their order.

    Returns
    -------
    dict
        ``{service_key: {"label_zh", "label_en", "thresholds": {"5": {"households_total",
        "households_covered", "share_covered", "compounds_total", "compounds_covered"}}}}``
        with plain ``float``/``int`` values; an undefined share (no households) is ``None``.
        When the compounds say which counts are estimated (``households_source``), each
        service also has ``households_estimated`` and ``share_estimated``.

    Raises
    ------
    InputError
        When a service has no assessed table.

    Examples
    --------
    >>> summary_dict({}, [])
    {}
    """
    svcs = list(services.values()) if isinstance(services, Mapping) else list(services)
    missing = [s.key for s in svcs if s.key not in assessed_by_service]
    if missing:
        raise InputError(
            Problem("assessed", f"缺少服务类型的覆盖结果 (no assessed table for): {_ids(missing)}")
        )
    tables = {
        svc.key: summarize_coverage(
            assessed_by_service[svc.key], minutes=svc.minutes, service=svc.key
        )
        for svc in svcs
    }
    return summary_dict_from_summaries(tables, svcs)


def summary_dict_from_summaries(
    summaries: Mapping[str, pd.DataFrame],
    services: Mapping[str, Any] | Iterable[Any],
) -> dict[str, Any]:
    """:func:`summary_dict` from summaries already made, without summarising again.

    Parameters
    ----------
    summaries
        :func:`summarize_coverage` results keyed by service key, made with each service's
        ``minutes`` (their ``"overall"`` rows are used; group rows are ignored).
    services
        The service types, as for :func:`summary_dict`.

    Returns
    -------
    dict
        The same as :func:`summary_dict` on the assessed tables the summaries came from.

    Raises
    ------
    InputError
        When a service has no summary.

    Examples
    --------
    >>> summary_dict_from_summaries({}, [])
    {}
    """
    svcs = list(services.values()) if isinstance(services, Mapping) else list(services)
    missing = [s.key for s in svcs if s.key not in summaries]
    if missing:
        raise InputError(
            Problem("summaries", f"缺少服务类型的汇总 (no summary for): {_ids(missing)}")
        )
    result: dict[str, Any] = {}
    for svc in svcs:
        table = summaries[svc.key]
        table = table[table["scope"] == "overall"]
        thresholds: dict[str, Any] = {}
        for row in table.to_dict("records"):
            share = float(row["share_covered"])
            thresholds[minutes_label(row["minutes"])] = {
                "households_total": float(row["households_total"]),
                "households_covered": float(row["households_covered"]),
                "share_covered": share if math.isfinite(share) else None,
                "compounds_total": int(row["compounds_total"]),
                "compounds_covered": int(row["compounds_covered"]),
            }
        result[svc.key] = {
            "label_zh": svc.label_zh,
            "label_en": svc.label_en,
            "thresholds": thresholds,
        }
        result[svc.key].update(_estimated_entry(table))
    return result


def _estimated_entry(overall: pd.DataFrame) -> dict[str, Any]:
    """``households_estimated`` and ``share_estimated`` of a service's overall rows."""
    if "households_estimated" not in overall.columns or not len(overall):
        return {}
    row = overall.iloc[0]
    share = float(row["share_estimated"])
    return {
        "households_estimated": float(row["households_estimated"]),
        "share_estimated": share if math.isfinite(share) else None,
    }


# --------------------------------------------------------------------------------------------
# station loads


def station_load(
    assessed: pd.DataFrame,
    stations: gpd.GeoDataFrame,
    *,
    minutes: Sequence[float] | None = None,
    capacity: float | None = None,
    service: str | Any | None = None,
) -> gpd.GeoDataFrame:
    """Households each station would serve if every compound used its nearest station.

    Every compound with a finite ``walk_min`` is assigned to its ``nearest_station_id``,
    however far; unreachable compounds are not assigned.

    Parameters
    ----------
    assessed
        The result of :func:`assess_coverage`.
    stations
        The station layer (``station_id``, ``name``, optional ``capacity`` and ``service``,
        ``geometry``). Rows whose ``service`` is another service type are ignored.
    minutes
        The thresholds (default: those of ``assessed``); the largest is used.
    capacity
        Households a station can serve, where the station's own ``capacity`` is NaN
        (default: no limit).
    service
        The service key (default: that of ``assessed``). A :class:`coverage.config.Service`
        is accepted too (its ``minutes`` and ``capacity`` are then the defaults).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per station, in the stations' order: ``station_id``, ``name``, ``service``,
        ``compounds_served`` (int64), ``households_served``,
        ``households_served_within_<T>min`` (``T`` = largest threshold), ``capacity`` (NaN =
        no limit), ``over_capacity`` (``households_served > capacity``; False without a
        capacity), ``load_ratio`` (``households_served / capacity``; NaN without a
        capacity), ``geometry``. Stations serving nobody have zeros.

    Raises
    ------
    InputError
        When columns are missing, station ids repeat, a capacity is not positive, or an
        assigned ``nearest_station_id`` is not among the stations.
    """
    opts = _options(service, minutes=minutes, capacity=capacity, table=assessed)
    problems: list[Problem] = []
    _check_minutes(opts, problems)
    _check_columns(
        assessed,
        ["compound_id", "households", "nearest_station_id", "walk_min"],
        "assessed",
        problems,
    )
    if _check_columns(stations, ["station_id", "name", "geometry"], "stations", problems):
        if "service" in stations.columns:
            stations = stations[stations["service"].fillna(opts.key) == opts.key]
        problems += id_problems(stations["station_id"], file="stations", column="station_id")
    _raise(problems, "无法计算站点负荷 (cannot compute station loads):")

    cap_given = (
        pd.to_numeric(stations["capacity"], errors="coerce").astype("float64")
        if "capacity" in stations.columns
        else pd.Series(np.nan, index=stations.index)
    )
    if (cap_given <= 0).any():
        bad = stations.loc[cap_given <= 0, "station_id"]
        problems.append(
            Problem(
                "stations", f"容量必须为正数 (capacity must be > 0): {_ids(bad)}", column="capacity"
            )
        )
    walk = assessed["walk_min"].astype("float64")
    served = assessed.loc[walk.notna() & assessed["nearest_station_id"].notna()]
    if unknown := set(served["nearest_station_id"].unique()) - set(stations["station_id"]):
        problems.append(
            Problem(
                "assessed",
                "最近站点不在站点表中 (nearest stations not in the station layer): "
                f"{_ids(unknown)}",
                column="nearest_station_id",
            )
        )
    _raise(problems, "无法计算站点负荷 (cannot compute station loads):")

    tmax = float(opts.minutes[-1])
    within_col = f"households_served_within_{minutes_label(tmax)}min"
    agg = (
        served.assign(_within=served["households"].where(served["walk_min"] <= tmax, 0.0))
        .groupby("nearest_station_id")
        .agg(
            compounds_served=("compound_id", "size"),
            households_served=("households", "sum"),
            _within=("_within", "sum"),
        )
        .reindex(stations["station_id"])
    )
    out = pd.DataFrame(
        {
            "station_id": stations["station_id"].to_numpy(),
            "name": stations["name"].to_numpy(),
            "service": opts.key,
            "compounds_served": agg["compounds_served"].fillna(0).to_numpy(dtype="int64"),
            "households_served": agg["households_served"].fillna(0.0).to_numpy(dtype="float64"),
            within_col: agg["_within"].fillna(0.0).to_numpy(dtype="float64"),
        }
    )
    default = np.nan if opts.capacity is None else float(opts.capacity)
    caps = cap_given.fillna(default).to_numpy(dtype="float64")
    out["capacity"] = caps
    out["over_capacity"] = out["households_served"].to_numpy() > caps  # NaN -> False
    out["load_ratio"] = out["households_served"].to_numpy() / caps
    # the station layer's own attributes (address, community ...) pass through
    extra = [c for c in stations.columns if c not in out.columns and c != stations.geometry.name]
    for col in extra:
        out[col] = stations[col].to_numpy()
    result = gpd.GeoDataFrame(out, geometry=stations.geometry.to_numpy(), crs=stations.crs)
    result.attrs = {"service": opts.key}
    log.info(
        "%s: %d stations, %d over capacity",
        opts.key,
        len(result),
        int(result["over_capacity"].sum()),
    )
    return result


# --------------------------------------------------------------------------------------------
# gaps


def rank_gaps(assessed: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The compounds not covered at the largest threshold, most households left out first.

    Parameters
    ----------
    assessed
        The result of :func:`assess_coverage`.

    Returns
    -------
    geopandas.GeoDataFrame
        The uncovered compounds sorted by ``households`` descending, ties by ``walk_min``
        descending (unreachable first), then ``compound_id``: ``rank`` (1-based),
        ``compound_id``, ``name``, ``service``, ``households``, ``nearest_station_id``,
        ``walk_min``, ``minutes_short``, ``reason``, the passed-through columns and
        ``geometry`` (the per-threshold ``covered_``/``stations_within_`` columns are dropped).

    Raises
    ------
    InputError
        When ``assessed`` has no ``covered_<T>min`` column.
    """
    thresholds = {
        float(m.group(1)): c for c in assessed.columns if (m := _COVERED_RE.match(str(c)))
    }
    if not thresholds:
        raise InputError(
            Problem("assessed", "缺少覆盖列 (no covered_<T>min column); run assess_coverage first")
        )
    covered = assessed[thresholds[max(thresholds)]].astype(bool).to_numpy()
    per_threshold = {c for c in assessed.columns if str(c).startswith("stations_within_")}
    keep = [c for c in assessed.columns if c not in per_threshold and c not in thresholds.values()]
    gaps = assessed.loc[~covered, keep]
    order = (
        pd.DataFrame(
            {
                "h": gaps["households"].to_numpy(),
                "w": gaps["walk_min"].fillna(np.inf).to_numpy(),
                "id": gaps["compound_id"].to_numpy(),
            }
        )
        .sort_values(["h", "w", "id"], ascending=[False, False, True], kind="mergesort")
        .index.to_numpy()
    )
    result = gaps.iloc[order].reset_index(drop=True)
    result.insert(0, "rank", np.arange(1, len(result) + 1, dtype="int64"))
    return result
