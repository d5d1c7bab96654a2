"""What a test needs from the machine (a browser, a font) and what to do without it.

Under bare ``pytest`` a test whose machine lacks the thing skips, saying why. ``make test``
installs these things (its ``chromium`` and ``fonts`` targets) and names them in
``COVERAGE_PLANNER_TEST_REQUIRE`` (comma-separated): there a missing one fails instead, so CI
cannot pass by skipping.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_ENV = "COVERAGE_PLANNER_TEST_REQUIRE"


def lacking(what: str, reason: str) -> NoReturn:
    """Skip the test, or fail it when ``what`` is required here (see the module's note).

    Parameters
    ----------
    what
        The thing's short name in :data:`REQUIRE_ENV` (``chromium``, ``cjk-font``).
    reason
        What is missing and how to install it.
    """
    required = {w.strip() for w in os.environ.get(REQUIRE_ENV, "").split(",")}
    if what in required:
        pytest.fail(f"{reason} ({REQUIRE_ENV} requires {what})")
    pytest.skip(reason)
