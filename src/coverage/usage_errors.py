"""click's usage errors in the planner's language: Chinese first, English after it.

click prints its own English (``Usage: ...`` / ``Error: Missing argument 'STUDY_FILE'.``) for a
missing argument, an unknown option or command, a bad choice or a bad number. The command's
group (:class:`coverage.cli._Group`) shows those errors through :func:`show_usage_error`
instead: ``用法 / Usage: ...`` and ``错误：缺少参数 STUDY_FILE / Error: Missing argument
'STUDY_FILE'.``, English only for ``--lang en`` (or a study file given on the command line
whose ``language`` is ``"en"``). The exit code stays click's (2 for usage errors).

The wording lives in :data:`coverage.labels.TEXTS` (keys ``usage_*``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from coverage import labels
from coverage.study_text import study_text_language

__all__ = ["argv_language", "show_usage_error", "usage_error_lines"]

# click 8.2+ (pyproject allows 8.1, which raises a plain UsageError / prints the help itself)
_NO_SUCH_COMMAND: tuple[type[click.UsageError], ...] = tuple(
    getattr(click.exceptions, name)
    for name in ("NoSuchCommand",)
    if hasattr(click.exceptions, name)
)
_NO_ARGS_IS_HELP: tuple[type[click.UsageError], ...] = tuple(
    getattr(click.exceptions, name)
    for name in ("NoArgsIsHelpError",)
    if hasattr(click.exceptions, name)
)


def argv_language(argv: Sequence[str]) -> str:
    """The language of a command line's messages, read before click has parsed it.

    ``--lang X`` / ``--lang=X`` (the last one wins, as the command's own option does), else
    the ``language`` of the first existing ``.toml`` file on the line (the study), else
    :data:`coverage.labels.DEFAULT_LANGUAGE`.

    Parameters
    ----------
    argv
        The arguments after the program name.

    Returns
    -------
    str
        ``"zh"`` or ``"en"``.

    Examples
    --------
    >>> argv_language(["analyze", "study.toml", "--lang", "en"])
    'en'
    >>> argv_language(["analyze", "--lang=zh"])
    'zh'
    """
    chosen: str | None = None
    for pos, arg in enumerate(argv):
        value = None
        if arg == "--lang" and pos + 1 < len(argv):
            value = argv[pos + 1]
        elif arg.startswith("--lang="):
            value = arg.split("=", 1)[1]
        if value in labels.LANGUAGES:
            chosen = value
    if chosen is not None:
        return chosen
    for arg in argv:
        if arg.endswith(".toml"):
            try:
                text = Path(arg).read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError):
                continue
            return study_text_language(text) or labels.DEFAULT_LANGUAGE
    return labels.DEFAULT_LANGUAGE


def _hint(exc: click.BadParameter) -> str:
    """The parameter's name as click shows it (``'--out'``, ``'STUDY_FILE'``), or ""."""
    hint: Any = exc.param_hint
    if hint is None and exc.param is not None:
        hint = exc.param.get_error_hint(exc.ctx)
    if hint is None:
        return ""
    if isinstance(hint, str):
        return hint
    return " / ".join(str(h) for h in hint)


def _bad_value_zh(exc: click.BadParameter, hint: str) -> str:
    """What is wrong with a parameter's value, in Chinese."""
    param_type = exc.param.type if exc.param is not None else None
    if isinstance(param_type, click.Choice):
        choices = "、".join(str(c) for c in param_type.choices)
        return labels.text("usage_bad_choice", "zh", name=hint, choices=choices)
    out_of_range = "is not in the range" in exc.message
    if isinstance(param_type, click.types._NumberRangeBase) and out_of_range:
        limits = param_type._describe_range()
        return labels.text("usage_out_of_range", "zh", name=hint, range=limits)
    if isinstance(param_type, click.types.IntParamType):
        return labels.text("usage_bad_int", "zh", name=hint)
    if isinstance(param_type, click.types.FloatParamType):
        return labels.text("usage_bad_float", "zh", name=hint)
    if isinstance(param_type, click.Path) and "does not exist" in exc.message:
        return labels.text("usage_no_path", "zh", name=hint)
    return labels.text("usage_bad_value", "zh", name=hint)


def _message_zh(exc: click.ClickException) -> str:
    """The Chinese form of a click error (the English follows it on the same line)."""
    if isinstance(exc, click.MissingParameter):
        hint = _hint(exc).replace("'", "")
        kind = exc.param_type or (exc.param.param_type_name if exc.param is not None else "")
        key = "usage_missing_option" if kind == "option" else "usage_missing_argument"
        return labels.text(key, "zh", name=hint)
    if isinstance(exc, click.BadParameter):
        return _bad_value_zh(exc, _hint(exc))
    if isinstance(exc, (click.NoSuchOption, *_NO_SUCH_COMMAND)):
        if isinstance(exc, click.NoSuchOption):
            zh = labels.text("usage_no_such_option", "zh", name=exc.option_name)
        else:
            zh = labels.text("usage_no_such_command", "zh", name=getattr(exc, "command_name", ""))
        possibilities = getattr(exc, "possibilities", None)
        if possibilities:
            zh += labels.text("usage_did_you_mean", "zh", names="、".join(possibilities))
        return zh
    if isinstance(exc, click.BadOptionUsage):
        if exc.message == f"Option {exc.option_name!r} requires an argument.":
            return labels.text("usage_needs_value", "zh", name=exc.option_name)
        if exc.message == f"Option {exc.option_name!r} does not take a value.":
            return labels.text("usage_takes_no_value", "zh", name=exc.option_name)
        return labels.text("usage_bad_option", "zh", name=exc.option_name)
    if isinstance(exc, click.UsageError):
        if exc.message.startswith("Got unexpected extra argument"):
            extra = exc.message[exc.message.find("(") :].rstrip(".")
            return labels.text("usage_extra_arguments", "zh", args=extra)
        return labels.text("usage_wrong", "zh")
    return labels.text("usage_failed", "zh")


def usage_error_lines(exc: click.ClickException, *, lang: str | None) -> list[str]:
    """The lines shown for a click error: usage, the help hint, a blank line, the error.

    Parameters
    ----------
    exc
        The error click raised while reading the command line.
    lang
        ``"zh"`` (Chinese first, the English after it), ``"en"`` or ``None`` (Chinese).

    Returns
    -------
    list of str
    """
    english = exc.format_message()
    error = labels.text("usage_error", "en", message=english)
    if labels.check_language(lang) == "zh":
        error = labels.text("usage_error", "zh", message=_message_zh(exc)) + " / " + error
    ctx = getattr(exc, "ctx", None)
    if not isinstance(exc, click.UsageError) or ctx is None:
        return [error]
    formatter = ctx.make_formatter()
    prefix = labels.text("usage_prefix", lang)
    formatter.write_usage(ctx.command_path, " ".join(ctx.command.collect_usage_pieces(ctx)), prefix)
    lines = [formatter.getvalue().rstrip("\n")]
    if ctx.command.get_help_option(ctx) is not None:
        option = max(ctx.command.get_help_option_names(ctx), key=len)
        lines.append(labels.text("usage_try_help", lang, command=f"{ctx.command_path} {option}"))
    return [*lines, "", error]


def show_usage_error(
    exc: click.ClickException, *, lang: str | None, file: IO[Any] | None = None
) -> None:
    """Print a click error on stderr (or ``file``) in ``lang`` (see :func:`usage_error_lines`).

    click's "no arguments: show the help" error keeps its own form (the help text).

    Parameters
    ----------
    exc
        The error click raised.
    lang
        ``"zh"``, ``"en"`` or ``None``.
    file
        Where to print (default stderr).
    """
    if isinstance(exc, _NO_ARGS_IS_HELP):
        exc.show(file)
        return
    color = exc.ctx.color if isinstance(exc, click.UsageError) and exc.ctx is not None else None
    for line in usage_error_lines(exc, lang=lang):
        click.echo(line, file=file, err=file is None, color=color)
