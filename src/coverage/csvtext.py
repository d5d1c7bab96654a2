"""CSV text of a table, byte for byte what ``DataFrame.to_csv(index=False)`` writes, faster.

pandas hands every cell to Python's :mod:`csv` module as a Python object; on the 80,000-row
tables of a large study that is most of the time spent writing. Here every column becomes an
Arrow string array formatted exactly as pandas formats it (floats through the same
``numpy.ndarray.astype(str)`` call pandas makes, integers and booleans as ``str()`` does,
missing values as empty fields), quoted as :data:`csv.QUOTE_MINIMAL` does, and the rows are
joined inside Arrow. Object columns are written as the csv module writes their values
(``str()``; missing values empty). Tables with other column types (categorical, dates, ...)
are written by pandas itself.
"""

from __future__ import annotations

import csv
import io
import os
import re
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["csv_bytes", "write_csv"]


def _quoting_characters() -> str:
    """The characters that make :mod:`csv` (as pandas calls it) quote a field.

    Asked of the csv module itself: which line-break characters it quotes has changed
    between Python versions.
    """
    quoted = []
    for char in ',"\r\n\t ;':
        out = io.StringIO()
        csv.writer(out, lineterminator=os.linesep).writerow([f"a{char}b", "c"])
        if out.getvalue().startswith('"'):
            quoted.append(char)
    return "".join(quoted)


_QUOTED_CHARACTERS = _quoting_characters()
_NEEDS_QUOTES = "[" + "".join(re.escape(c) for c in _QUOTED_CHARACTERS) + "]"
#: The same characters as UTF-8 bytes (all ASCII: never part of a multi-byte character).
_QUOTED_BYTES = [c.encode("utf-8") for c in _QUOTED_CHARACTERS]


def _may_need_quotes(text: pa.Array) -> bool:
    """Whether the array's text data holds any character that makes a field quoted.

    One search of the whole data buffer per character (most columns have none) instead of
    a regular expression per field.
    """
    data = text.buffers()[2]
    if data is None:
        return False
    raw = data.to_pybytes()
    return any(char in raw for char in _QUOTED_BYTES)


def _quote(text: pa.Array) -> pa.Array:
    """Quote the fields that need it (doubling their quote characters)."""
    if not _may_need_quotes(text):
        return text
    needs = pc.match_substring_regex(text, _NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return text
    if pc.any(pc.match_substring(text, '"')).as_py():
        text_needed = pc.replace_substring(text, '"', '""')
    else:
        text_needed = text
    quoted = pc.binary_join_element_wise('"', text_needed, '"', "")
    return quoted if pc.all(needs).as_py() else pc.if_else(needs, quoted, text)


def _column_text(values: pd.Series) -> tuple[pa.Array, bool] | None:
    """The column's fields as pandas writes them (unquoted) and whether any may need quotes.

    None for other dtypes. Numbers and flags never need quotes.
    """
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return _object_text(values)
    if isinstance(dtype, np.dtype):
        data = values.to_numpy()
        if dtype.kind == "f":
            return pa.array(_float_text(data), type=pa.string()), False
        if dtype.kind in "iu":
            return pc.cast(pa.array(data), pa.string()), False
        if dtype.kind == "b":
            return pc.if_else(pa.array(data), "True", "False"), False
        return None
    if isinstance(dtype, pd.StringDtype):
        try:
            arr = pa.array(values.array, type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        return pc.fill_null(arr, ""), True
    return None


def _float_text(data: np.ndarray) -> np.ndarray:
    """Floats as pandas writes them (``astype(str)``; NaN empty), each distinct value once.

    Result tables repeat values (minutes, households, each compound's point once per service):
    formatting the distinct bit patterns (so that -0.0 stays apart from 0.0) and taking them
    back gives the same strings.
    """
    if data.dtype.itemsize not in (2, 4, 8):  # no integer of the same width to compare bits
        text = data.astype(str)
        text[np.isnan(data)] = ""
        return text
    bits = np.ascontiguousarray(data).view(f"i{data.dtype.itemsize}")
    back, distinct = pd.factorize(bits)  # by hashing: faster than sorting
    values = distinct.view(data.dtype)
    if data.dtype == np.float64:  # the same digits as astype(str) (shortest repr), faster
        text = np.array(list(map(repr, values.tolist())), dtype=object)[back]
    else:
        text = values.astype(str)[back]  # no float_format, decimal "."
    text[np.isnan(data)] = ""
    return text


def _object_text(values: pd.Series) -> tuple[pa.Array, bool]:
    """An object column as pandas writes it: missing values empty, others as ``str()``.

    Columns of only text or only integers (besides missing values) are converted by Arrow;
    others value by value.
    """
    data = values.to_numpy(dtype=object)
    kind = pd.api.types.infer_dtype(data, skipna=True)
    if kind in ("string", "integer"):
        try:
            arr = pa.array(data, from_pandas=True, type=pa.string() if kind == "string" else None)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
        else:
            if kind == "string" or pa.types.is_integer(arr.type):
                return pc.fill_null(pc.cast(arr, pa.string()), ""), kind == "string"
    text = np.array([v if type(v) is str else str(v) for v in data], dtype=object)
    text[pd.isna(data)] = ""
    return pa.array(text, type=pa.string()), True


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """Return ``frame.to_csv(index=False)`` encoded as UTF-8 (no BOM).

    Parameters
    ----------
    frame
        The table.

    Returns
    -------
    bytes
        The CSV text: a header line, then one line per row, each ending in ``"\\n"``.

    Examples
    --------
    >>> t = pd.DataFrame({"name": ["a,b", None], "walk_min": [1.5, float("nan")],
    ...                   "n": [2, 3], "covered": [True, False]})
    >>> csv_bytes(t) == t.to_csv(index=False).encode()
    True
    """
    return b"".join(_csv_parts(frame))


def write_csv(frame: pd.DataFrame, file: BinaryIO) -> None:
    """Write :func:`csv_bytes` of the table to an open binary file (without joining it first).

    Parameters
    ----------
    frame
        The table.
    file
        A file open for writing bytes.
    """
    for part in _csv_parts(frame):
        file.write(part)


def _csv_parts(frame: pd.DataFrame) -> list[bytes | memoryview]:
    """The CSV text in pieces: the header line, then the rows (a view of Arrow's buffer)."""
    columns = [_column_text(frame.iloc[:, i]) for i in range(frame.shape[1])]
    if (
        frame.shape[1] < 2
        or not frame.columns.is_unique
        or any(c is None for c in columns)
        or not all(isinstance(c, str) for c in frame.columns)
    ):
        return [frame.to_csv(index=False).encode("utf-8")]
    header = pa.array([str(c) for c in frame.columns], type=pa.string())
    head = ",".join(_quote(header).to_pylist()) + os.linesep
    if len(frame) == 0:
        return [head.encode("utf-8")]
    fields = [
        (_quote(text) if may_quote else text).cast(pa.large_string())
        for text, may_quote in (c for c in columns if c is not None)
    ]
    comma, newline, empty = (pa.scalar(v, pa.large_string()) for v in (",", os.linesep, ""))
    # the line break joined to the last field: one pass over the rows' text, not two
    fields[-1] = pc.binary_join_element_wise(fields[-1], empty, newline)  # field + newline + ""
    return [head.encode("utf-8"), _text_of(pc.binary_join_element_wise(*fields, comma))]


def _text_of(lines: pa.Array) -> memoryview:
    """The concatenated values of a large-string array without nulls (its data buffer)."""
    _validity, offsets_buf, data = lines.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)
    first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(data)[first:last] if data is not None else memoryview(b"")
