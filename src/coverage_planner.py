"""Entry point of the ``coverage-planner`` command, under a module name only this project uses.

The package's import name, ``coverage``, is also coverage.py's. When coverage.py shadows the
package (installed into the same environment and found first), ``coverage.cli`` cannot even be
found and Python's own error says nothing useful. This module's name is unique, so the command
can always start and say plainly what is wrong and how to fix it.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

_CONFLICT = (
    "coverage-planner 与 coverage.py 冲突：两者都安装名为 coverage 的包，装在同一环境里会互相覆盖"
    "或遮蔽 (coverage-planner and coverage.py both install a top-level package named "
    "'coverage'; {found}). 请在单独的虚拟环境中使用 coverage-planner：pip uninstall coverage "
    "后重新安装 coverage-planner (use coverage-planner in its own virtual environment: "
    "`pip uninstall coverage`, then reinstall coverage-planner).\n"
)


def main() -> None:
    """Run the ``coverage-planner`` command, or explain that coverage.py is in the way."""
    try:
        import coverage
    except ImportError as exc:  # our own guard found coverage.py's files beside ours
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(1) from None
    if getattr(coverage, "DIST_NAME", None) != "coverage-planner":
        where = getattr(coverage, "__file__", None) or "?"
        sys.stderr.write(_CONFLICT.format(found=f"'import coverage' found coverage.py at {where}"))
        raise SystemExit(1)
    from coverage.cli import main as cli_main

    cli_main()
