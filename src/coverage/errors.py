"""Public exception and warning classes.

Every error the library raises on purpose derives from :class:`CoverageError`. The specific
classes also subclass the builtin they resemble, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import coverage._identity  # noqa: F401  (refuses a coverage/ folder shared with coverage.py)

__all__ = [
    "CRSError",
    "CoverageError",
    "CoverageWarning",
    "InfeasibleError",
    "InputError",
    "NetworkError",
    "OutputError",
    "Problem",
    "SourceFileError",
    "StudyError",
]


@dataclass(frozen=True)
class Problem:
    """One problem found while validating a file or a study.

    Parameters
    ----------
    file
        The file the problem is in (as given by the user).
    message
        What is wrong and how to fix it, in the user's language.
    row
        1-based data row (the header is row 0), when the problem belongs to a row.
    column
        Column name, when the problem belongs to one.
    key
        Key path in a study file, e.g. ``services.party_station.minutes[1]``.
    """

    file: str
    message: str
    row: int | None = None
    column: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = [self.file] if self.file else []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = ", ".join(where)
        if self.key is not None:
            text = f"{text}: {self.key}" if text else self.key
        return f"{text}: {self.message}" if text else self.message


class CoverageError(Exception):
    """Base class of every error raised by coverage-planner."""


class InputError(CoverageError, ValueError):
    """Input data (a layer file, a study file) is invalid.

    Carries every problem found, so the user can fix them all in one go.

    Parameters
    ----------
    problems
        The problems found; their text makes the message.
    header
        A first line summarising what was being checked.
    """

    def __init__(self, problems: list[Problem] | Problem | str, *, header: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(file="", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        lines = [header] if header else []
        lines += [f"- {p}" if p.file else f"- {p.message}" for p in self.problems]
        super().__init__(
            "\n".join(lines)
            if len(self.problems) != 1 or header
            else str(self.problems[0])
            if self.problems[0].file
            else self.problems[0].message
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # keep the problems when pickled (Dask workers send errors back)
        return (_rebuild_input_error, (type(self), self.problems, str(self)))


def _rebuild_input_error(cls: type[InputError], problems: list[Problem], text: str) -> InputError:
    err = cls.__new__(cls)
    err.problems = problems
    Exception.__init__(err, text)
    return err


class StudyError(InputError):
    """The study file (TOML) is invalid: unknown keys, wrong types, missing files."""


class CRSError(InputError):
    """A coordinate reference system is missing, unknown or implausible."""


class NetworkError(CoverageError, RuntimeError):
    """The walk network could not be built, downloaded or loaded."""


class SourceFileError(NetworkError, InputError):
    """A network source file (OSM extract, area polygon) is missing, unreadable or unusable.

    Both a :class:`NetworkError` and an :class:`InputError`: bad input the user can fix, so
    the command line exits with code 2.
    """


class OutputError(CoverageError, OSError):
    """An output folder or file cannot be written (read-only, no permission, disk full).

    The command line exits with code 1 and this message.
    """


class InfeasibleError(CoverageError, RuntimeError):
    """An optimisation model has no feasible solution."""


class CoverageWarning(UserWarning):
    """A recoverable oddity in the data (reported, never silently dropped)."""
