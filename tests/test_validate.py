"""Tests for coverage._validate: the one definition of bad ids and missing columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coverage._validate import EMPTY_ID, id_issues, id_problems, missing_columns


def test_empty_and_repeated_ids_by_position_with_the_other_rows_named() -> None:
    ids = pd.Series(["a", None, "b", "a", "  ", "b", "a", "c"], dtype=object)
    got = id_issues(ids)
    assert [pos for pos, _ in got] == [0, 1, 2, 3, 4, 5, 6]
    messages = dict(got)
    assert messages[1] == messages[4] == EMPTY_ID
    assert "duplicate id 'a'" in messages[0] and "same as row 4, row 7" in messages[0]
    assert "same as row 1, row 7" in messages[3] and "same as row 6" in messages[2]
    assert "same as row 3" in messages[5]
    assert id_issues(np.array(["x", "y"], dtype=object)) == []


def test_problems_use_the_given_row_numbers() -> None:
    problems = id_problems(["k", "k"], file="f.csv", column="编号", rows=np.array([10, 12]))
    assert [(p.file, p.row, p.column) for p in problems] == [
        ("f.csv", 10, "编号"),
        ("f.csv", 12, "编号"),
    ]
    assert "same as row 12" in problems[0].message


def test_missing_columns_one_problem_each() -> None:
    got = missing_columns(["a", "b"], ["a", "c", "d"], file="t")
    assert [(p.file, p.column) for p in got] == [("t", "c"), ("t", "d")]
    assert all("missing required column" in p.message for p in got)
