"""The fast CSV text is byte for byte pandas' ``to_csv(index=False)``."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest

from coverage.csvtext import csv_bytes, write_csv

_NASTY = ["", " ", "a,b", 'say "hi"', "line\nbreak", "cr\rhere", "\r\n", "小区 1", "tab\there",
          ";", "'", "trailing ", "é", "😀", '"', ",", "x" * 300]  # fmt: skip


def _floats(rng: np.random.Generator, n: int) -> np.ndarray:
    special = np.array(
        [0.0, -0.0, 0.1, 0.5, 1.0, 120.0, 1e-4, 1e-5, 9.999e-5, 1e15, 1e16, 1.5e16, 1e21,
         1e22, -1e-7, 2.675, 1 / 3, np.inf, -np.inf, np.nan, 5e-324, 1.7976931348623157e308]
    )  # fmt: skip
    mags = 10.0 ** rng.uniform(-8, 22, n)
    x = rng.choice([-1.0, 1.0], n) * mags
    x[: n // 3] = np.round(x[: n // 3], 2)
    x[n // 3 : n // 2] = rng.integers(-(10**6), 10**6, n // 2 - n // 3)
    return np.r_[special, x]


def _frame(rng: np.random.Generator) -> pd.DataFrame:
    f = _floats(rng, 5000)
    with np.errstate(over="ignore"):  # rounding 1.8e308 overflows to inf: fine here
        rounded = np.round(rng.permutation(f), 2)
    n = len(f)
    text = rng.choice(np.array(_NASTY + [f"id-{i}" for i in range(50)], dtype=object), n)
    text[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "compound_id": pd.array(text, dtype="str"),
            "walk_min": f,
            "households": rng.permutation(f),
            "stations": rng.integers(-(2**62), 2**62, n),
            "small": rng.integers(0, 5, n).astype(np.int32),
            "covered": rng.random(n) < 0.5,
            "name, with comma": pd.array(rng.permutation(text), dtype="str"),
            'q"uote': rounded,
            "mixed": np.where(
                rng.random(n) < 0.5, [int(v) if np.isfinite(v) else None for v in rounded], text
            ),
        }
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_same_bytes_as_pandas(seed: int) -> None:
    frame = _frame(np.random.default_rng(seed))
    assert csv_bytes(frame) == frame.to_csv(index=False).encode("utf-8")
    part = frame.iloc[1000:1400]  # a slice (arrays with an offset)
    assert csv_bytes(part) == part.to_csv(index=False).encode("utf-8")
    assert csv_bytes(frame.iloc[:0]) == frame.iloc[:0].to_csv(index=False).encode("utf-8")


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(["a", 1, None], dtype=object),
        pd.Series([np.float64(0.1), np.nan, pd.NA], dtype=object),
        pd.Series([np.float32(0.1), True, "x,y"], dtype=object),
        pd.Series([120, 0.5, None], dtype=object),  # whole households as int, others float
        pd.Series(["是", "否", None], dtype=object),
        pd.Series(["x", "y", "x"], dtype="category"),
        pd.Series([dt.date(2026, 1, 1)] * 3),
        pd.Series(pd.to_datetime(["2026-01-01 00:00", None, "2026-11-30 12:00"])),
        pd.Series([1, None, 3], dtype="Int64"),
        pd.Series(["a", None, "b"], dtype="string"),
    ],
)
def test_other_column_types_match_pandas(column: pd.Series) -> None:
    frame = pd.DataFrame({"n": [1, 2, 3], "other": column})
    assert csv_bytes(frame) == frame.to_csv(index=False).encode("utf-8")
    single = frame[["other"]]  # one column: an empty field is quoted there
    assert csv_bytes(single) == single.to_csv(index=False).encode("utf-8")


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(["a", None, "b,c", np.nan, 'q"'], dtype=object),  # text: through Arrow
        pd.Series([1, None, -3, 2**62, 0], dtype=object),  # integers: through Arrow
        pd.Series([1, None, 2**64, 0, 5], dtype=object),  # beyond int64: value by value
        pd.Series([True, None, False, True, False], dtype=object),
        pd.Series(["a", 1, 2.5, None, "x\ny"], dtype=object),
        pd.Series([pd.NA, "a", None, "b", "c"], dtype=object),
    ],
)
def test_object_columns_match_pandas(column: pd.Series) -> None:
    frame = pd.DataFrame({"n": range(len(column)), "other": column})
    assert csv_bytes(frame) == frame.to_csv(index=False).encode("utf-8")


def test_any_float_bits_match_pandas() -> None:
    """Float text from ``repr`` of each distinct value is what pandas writes for any bits."""
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2**64 - 1, 25_000, dtype=np.uint64, endpoint=True)
    single = rng.integers(0, 2**32 - 1, 25_000, dtype=np.uint32, endpoint=True)
    frame = pd.DataFrame({"x": bits.view(np.float64), "y": single.view(np.float32)})
    assert csv_bytes(frame) == frame.to_csv(index=False).encode("utf-8")


def test_quoting_only_where_needed() -> None:
    text = ["plain", "小区", "a,b", "x", 'say "hi"', "cr\r", ""]
    frame = pd.DataFrame({"a": pd.array(text, dtype="str"), "b": text[::-1], "c": 1.5})
    assert csv_bytes(frame) == frame.to_csv(index=False).encode("utf-8")
    every = pd.DataFrame({"a": ["1,2", "3,4"], "b": ["5,6", "7,8"]})  # every field quoted
    assert csv_bytes(every) == every.to_csv(index=False).encode("utf-8")


@pytest.mark.parametrize("rows", [slice(None), slice(1000, 1400), slice(0, 0)])
def test_write_csv_writes_the_same_bytes(rows: slice) -> None:
    frame = _frame(np.random.default_rng(5)).iloc[rows]
    out = io.BytesIO()
    write_csv(frame, out)
    assert out.getvalue() == csv_bytes(frame) == frame.to_csv(index=False).encode("utf-8")
