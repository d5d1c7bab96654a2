"""Checks shared by the modules that validate tables: required columns and unique ids.

One definition of what a bad id is (empty, or repeated) and of how it is reported, used by
:mod:`coverage.inputs` (layer files), :mod:`coverage.snap` (layers about to be snapped) and
:mod:`coverage.gaps` (travel tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from coverage.errors import Problem
from coverage.labels import pick

__all__ = ["EMPTY_ID", "EMPTY_ID_EN", "id_issues", "id_problems", "missing_columns"]

EMPTY_ID = "编号为空 (empty id); 请为每一行填写唯一编号 (give every row a unique id)"
#: The English-only form of :data:`EMPTY_ID` (``lang="en"``).
EMPTY_ID_EN = "empty id; give every row a unique id"


def id_issues(
    ids: Sequence[Any] | np.ndarray | pd.Series,
    *,
    rows: Any = None,
    unit: str = "row",
    lang: str | None = None,
) -> list[tuple[int, str]]:
    """Find empty and repeated ids.

    Parameters
    ----------
    ids
        The id of every row (missing values and blank text are empty).
    rows
        Row number of every position as users see it (default: position + 1), used in the
        messages of repeated ids.
    unit
        What ``rows`` counts: ``"row"`` or ``"feature"``.
    lang
        The messages' language: ``"zh"`` (Chinese with the English; also ``None``) or
        ``"en"``.

    Returns
    -------
    list of (int, str)
        ``(position, message)`` for every empty id and every row of a repeated one, by
        position.
    """
    if _distinct_text(ids):  # the usual case, found on the text array itself (no objects)
        return []
    values = pd.Series(ids, dtype=object).reset_index(drop=True)
    numbers = np.arange(1, len(values) + 1) if rows is None else np.asarray(rows)
    empty = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
    issues = [(int(pos), pick(EMPTY_ID, EMPTY_ID_EN, lang)) for pos in np.flatnonzero(empty)]
    keyed = values[~empty].astype(str)
    dup = keyed[keyed.duplicated(keep=False)]
    if dup.empty:  # the usual case: skip the groupby (a few tens of milliseconds)
        return issues
    for value, positions in dup.groupby(dup, sort=False).indices.items():
        where = dup.index[positions]
        numbered = [int(numbers[p]) for p in where]
        for pos, row in zip(where, numbered, strict=True):
            same = [r for r in numbered if r != row]
            others = ", ".join(f"{unit} {r}" for r in same)
            listed = "、".join(map(str, same))
            zh = f"第 {listed} 个要素" if unit == "feature" else f"第 {listed} 行"
            message = pick(
                f"编号重复 (duplicate id {value!r}): 与{zh}相同 (same as {others}); "
                "每个编号须唯一 (no duplicate ids: every id must be unique)",
                f"duplicate id {value!r}: same as {others}; every id must be unique",
                lang,
            )
            issues.append((int(pos), message))
    return sorted(issues, key=lambda item: item[0])


def _distinct_text(ids: object) -> bool:
    """Whether ``ids`` is a text Series with no missing, blank or repeated value."""
    if not isinstance(ids, pd.Series) or not isinstance(ids.dtype, pd.StringDtype):
        return False
    if ids.isna().any() or not pd.Index(ids).is_unique:
        return False
    return not bool((ids.str.strip() == "").any())


def id_problems(
    ids: Sequence[Any] | np.ndarray | pd.Series, *, file: str, column: str, rows: Any = None
) -> list[Problem]:
    """Problems for every empty or repeated id (see :func:`id_issues`).

    Parameters
    ----------
    ids
        The id of every row.
    file
        What the table is (file name or a name such as ``"stations"``).
    column
        The id column.
    rows
        Row number of every position (default: position + 1).

    Returns
    -------
    list of Problem
    """
    numbers = np.arange(1, len(ids) + 1) if rows is None else np.asarray(rows)
    return [
        Problem(file, message, row=int(numbers[pos]), column=column)
        for pos, message in id_issues(ids, rows=numbers)
    ]


def missing_columns(columns: Any, required: Sequence[str], *, file: str) -> list[Problem]:
    """One problem per required column not in ``columns``.

    Parameters
    ----------
    columns
        The table's columns.
    required
        The columns it must have.
    file
        What the table is.

    Returns
    -------
    list of Problem
    """
    have = set(columns)
    return [
        Problem(file, "缺少必需列 (missing required column)", column=c)
        for c in required
        if c not in have
    ]
