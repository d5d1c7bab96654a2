"""coverage-planner: walk-time coverage of community service stations (15分钟便民服务圈)."""

from __future__ import annotations

import logging

from coverage.errors import (
    CoverageError,
    CoverageWarning,
    CRSError,
    InfeasibleError,
    InputError,
    NetworkError,
    SourceFileError,
    StudyError,
)

__version__ = "0.1.0"

logging.getLogger("coverage").addHandler(logging.NullHandler())

__all__ = [
    "CRSError",
    "CoverageError",
    "CoverageWarning",
    "InfeasibleError",
    "InputError",
    "NetworkError",
    "SourceFileError",
    "StudyError",
    "__version__",
]
