"""This package's identity: its distribution name, and the guard against coverage.py.

coverage.py installs a top-level package named ``coverage`` too: installed into one environment,
the two overwrite each other's files. Importing this module (``coverage/__init__.py`` and
``coverage/errors.py`` do, so every module of the package does) raises a clear ImportError when
the folder is shared: only this project has ``pipeline.py``; only coverage.py has ``cmdline.py``
and a ``coverage-<version>.dist-info`` folder. It catches both orders of installation: our
``__init__`` beside coverage.py's files, and coverage.py's ``__init__`` over ours (then
``import coverage`` is coverage.py, and the first of our modules imported raises).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DIST_NAME", "check_not_coverage_py"]

#: The distribution that installs this package.
DIST_NAME = "coverage-planner"


def check_not_coverage_py(folder: Path | None = None) -> None:
    """Raise ImportError when the package folder is shared with coverage.py.

    Parameters
    ----------
    folder
        The package folder; default the one this file is in.

    Raises
    ------
    ImportError
        Naming the conflict, what was found and how to fix it.
    """
    here = (folder or Path(__file__)).resolve()
    here = here if here.is_dir() else here.parent
    ours = (here / "pipeline.py").is_file()
    theirs = [p.name for p in (here / "cmdline.py", here / "control.py") if p.is_file()]
    theirs += sorted(p.name for p in here.parent.glob("coverage-*.dist-info"))
    if ours and not theirs:
        return
    found = ", ".join(theirs) if theirs else f"no pipeline.py in {here}"
    raise ImportError(
        "coverage-planner 与 coverage.py 冲突：两者都安装名为 coverage 的包，装在同一环境里会互相"
        "覆盖文件 (coverage-planner and coverage.py both install a top-level package named "
        f"'coverage' and overwrite each other's files; found {found} in {here.parent}). "
        "请在单独的虚拟环境中使用 coverage-planner：pip uninstall coverage 后重新安装 "
        "coverage-planner，或使用本项目 Makefile 创建的 .venv (use coverage-planner in its own "
        "virtual environment: `pip uninstall coverage`, then reinstall coverage-planner, or "
        "use the .venv the project's Makefile makes)."
    )


check_not_coverage_py()
