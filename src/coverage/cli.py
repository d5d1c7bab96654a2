"""The ``coverage-planner`` command: a thin layer over the library.

Every command takes the same options (:func:`command_options`): ``-v`` (debug log), ``-q``
(only warnings and errors), ``--json`` (one JSON object on stdout, every other line on
stderr), ``--debug`` (tracebacks) and ``--lang``; steps over about a second show a progress
bar on stderr when it is a terminal.

Exit codes: 0 success; 2 bad input (study file, layers, an ``--out`` that would overwrite an
input or a planner's file), one readable message; 1 other failures (network download,
solver, a folder that cannot be written, a failed batch area, an internal error); 130
interrupted. Tracebacks only with ``--debug``.

Commands that write files write them as one output set (:mod:`coverage.outputset`):
staged beside the final files, committed together with ``run.json``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from coverage import labels
from coverage._identity import DIST_NAME
from coverage.basemaps import BASEMAPS, basemap_help
from coverage.errors import CoverageError, CoverageWarning, InputError

if TYPE_CHECKING:  # pragma: no cover
    from tqdm import tqdm

    from coverage.config import Study
    from coverage.outputset import OutputSet

log = logging.getLogger("coverage")


class _Ctx:
    """The command's state: the language of its lines, -v/-q/--json/--debug, the JSON result.

    ``--lang`` wins; without it the study's ``language`` applies once the study is read.
    """

    def __init__(self, lang: str | None) -> None:
        self.option = lang
        self.lang = lang or labels.DEFAULT_LANGUAGE
        self.verbose = 0
        self.quiet = False
        self.json = False
        self.debug = False
        #: what ``--json`` prints (the command adds its keys)
        self.result: dict[str, Any] = {}
        #: seconds per step (of the output set being written, for its run.json)
        self.timings: dict[str, float] = {}

    def load(self, study_file: Path) -> Study:
        """Read the study; its language becomes the default of every line."""
        from coverage.config import load_study

        study = load_study(study_file, lang=self.option)
        if self.option is None:
            self.lang = study.language
        return study

    def text(self, key: str, **values: Any) -> str:
        """The catalogue entry ``key`` (:mod:`coverage.labels`) in the command's language."""
        return labels.text(key, self.lang, **values)

    def t(self, zh: str, en: str) -> str:
        """The Chinese or the English form, in the command's language."""
        return labels.pick(zh, en, self.lang)

    def progress(self, line: str) -> None:
        """A progress line on stderr (hidden by ``-q``)."""
        if not self.quiet:
            click.echo(line, err=True)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Print a library warning (a station far from the network ...) as one plain line."""
    click_ctx = click.get_current_context(silent=True)
    lang = click_ctx.obj.lang if click_ctx is not None and isinstance(click_ctx.obj, _Ctx) else None
    click.echo(f"{labels.text('warning', lang)}: {message}", err=True)


def _load(study_file: Path) -> Study:
    """Read the study; its language becomes the command's (unless --lang was given)."""
    ctx = click.get_current_context().obj
    assert isinstance(ctx, _Ctx)
    return ctx.load(study_file)


def _network_line(ctx: _Ctx, summary: dict[str, Any]) -> str:
    from coverage import outputs

    return outputs.network_line(summary, lang=ctx.lang)


# --------------------------------------------------------------------------------------------
# progress bars, the options every command takes, errors as one message


#: Seconds a step runs before its progress bar appears.
PROGRESS_DELAY_S = 1.0


@contextmanager
def progress_bar(ctx: _Ctx, desc: str, *, total: int | None = None) -> Iterator[tqdm]:
    """A tqdm bar on stderr, shown once the step has run :data:`PROGRESS_DELAY_S` seconds.

    Hidden when stderr is not a terminal (``disable=None``) and under ``-q``. Without a
    ``total`` it shows the elapsed time, refreshed by a ticker thread; with one, call
    ``bar.update()`` per item.
    """
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        desc=desc,
        file=sys.stderr,
        delay=PROGRESS_DELAY_S,
        disable=True if ctx.quiet else None,
        leave=False,
        dynamic_ncols=True,
        unit="" if total is None else "it",
        bar_format="{desc}: {elapsed}" if total is None else None,
    )
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.25):
            bar.update(0)

    ticker = threading.Thread(target=tick, daemon=True)
    if not bar.disable:
        ticker.start()
    try:
        yield bar
    finally:
        stop.set()
        if ticker.is_alive():
            ticker.join()
        bar.close()


@contextmanager
def _step(ctx: _Ctx, zh: str, en: str) -> Iterator[None]:
    """Show a step on stderr with its duration (``*labels.TEXTS[key]`` gives both forms)."""
    ctx.progress(f"… {ctx.t(zh, en)}")
    t0 = time.perf_counter()
    with progress_bar(ctx, ctx.t(zh, en)):
        yield
    seconds = time.perf_counter() - t0
    ctx.timings[en] = ctx.timings.get(en, 0.0) + seconds
    ctx.progress(f"  {ctx.text('done')} ({seconds:.1f} s)")


def _json_default(value: Any) -> Any:
    """numpy numbers, paths and the like in the ``--json`` object."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (Path, set, tuple)):
        return str(value) if isinstance(value, Path) else list(value)
    return str(value)


def _os_message(exc: OSError, lang: str) -> str:
    """One line for a file-system error: what failed, on which file, what to do."""
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    zh = f"文件读写失败: {where} ({reason})；请检查路径、权限与磁盘空间"
    en = f"file error: {where} ({reason}); check the path, permissions and free disk space"
    return labels.pick(zh, en, lang)


def _set_logging(verbose: int, quiet: bool) -> None:
    """The ``coverage`` logger on stderr: -v debug, default and -q warnings and errors."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("coverage")
    root.handlers = [h for h in root.handlers if isinstance(h, logging.NullHandler)]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose and not quiet else logging.WARNING)
    warnings.showwarning = _show_warning


def _error_message(ctx: _Ctx, exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line shown for an error."""
    if isinstance(exc, CoverageError):
        return (2 if isinstance(exc, InputError) else 1), str(exc)
    if isinstance(exc, OSError):
        return 1, _os_message(exc, ctx.lang)
    if isinstance(exc, KeyboardInterrupt):
        return 130, ctx.t("已中断", "interrupted")
    return 1, ctx.t(
        f"内部错误: {type(exc).__name__}: {exc}；请加 --debug 重新运行，并把输出报告给开发者",
        f"internal error: {type(exc).__name__}: {exc}; rerun with --debug and report the "
        "output to the developers",
    )


def _run_command(ctx: _Ctx, name: str, call: Callable[[], Any]) -> None:
    """Run a command body: lines routed for -q/--json, errors as one message, the JSON."""
    stdout = sys.stdout
    code: int = 0
    error: str | None = None
    with contextlib.ExitStack() as stack:
        if ctx.json:  # stdout carries the JSON object only
            stack.enter_context(contextlib.redirect_stdout(sys.stderr))
        elif ctx.quiet:
            devnull = stack.enter_context(open(os.devnull, "w", encoding="utf-8"))
            stack.enter_context(contextlib.redirect_stdout(devnull))
        try:
            call()
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:
            code, error = _error_message(ctx, exc)
            if ctx.debug:
                traceback.print_exc(file=sys.stderr)
            click.echo(error, err=True)
    if ctx.json:
        status = "ok" if code == 0 else ("interrupted" if code == 130 else "error")
        payload = {"command": name, "status": status, "exit_code": code, **ctx.result}
        if error is not None:
            payload["error"] = error
        click.echo(json.dumps(payload, ensure_ascii=False, default=_json_default), file=stdout)
    if code:
        sys.exit(code)


def command_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command takes, and its errors as one readable message.

    Adds ``-v/--verbose``, ``-q/--quiet``, ``--json``, ``--debug`` and ``--lang`` (each also
    accepted before the command name) to a click command whose function takes the
    :class:`_Ctx` first (``@click.pass_obj`` above this decorator). The function may fill
    ``ctx.result``: ``--json`` prints it as one object on stdout with ``command``,
    ``status``, ``exit_code`` (and ``error``).
    """

    def wrapper(
        ctx: _Ctx,
        *args: Any,
        verbose: int = 0,
        quiet: bool = False,
        json_out: bool = False,
        debug: bool = False,
        lang: str | None = None,
        **kwargs: Any,
    ) -> None:
        if lang is not None:
            ctx.option = ctx.lang = lang
        ctx.verbose = max(ctx.verbose, verbose)
        ctx.quiet = ctx.quiet or quiet
        ctx.json = ctx.json or json_out
        ctx.debug = ctx.debug or debug
        _set_logging(ctx.verbose, ctx.quiet)
        name = click.get_current_context().info_name or func.__name__
        _run_command(ctx, name, lambda: func(ctx, *args, **kwargs))

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    wrapper.__dict__.update(func.__dict__)  # click's params of the decorators below
    for option in reversed(_COMMON_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


_COMMON_OPTIONS = (
    click.option(
        "-v", "--verbose", count=True, help="显示调试日志 / Show the debug log on stderr."
    ),
    click.option(
        "-q", "--quiet", is_flag=True, help="只显示警告和错误 / Only warnings and errors."
    ),
    click.option(
        "--json",
        "json_out",
        is_flag=True,
        help="在标准输出打印一个 JSON 对象，其余信息写到标准错误 / Print one JSON object on "
        "stdout; every other line goes to stderr.",
    ),
    click.option(
        "--debug", is_flag=True, help="出错时显示完整调用栈 / Show the traceback of an error."
    ),
    click.option(
        "--lang",
        type=click.Choice(list(labels.LANGUAGES)),
        default=None,
        help="输出语言（默认：研究文件的 language，否则中文） / Language of the messages "
        "(default: the study's language, else zh).",
    ),
)

#: Commands written before :func:`command_options` used ``@_guard``: the same thing now.
_guard = command_options


# --------------------------------------------------------------------------------------------
# help in Chinese and English


_HEADINGS = {
    "Options": "选项 / Options",
    "Commands": "命令 / Commands",
    "Arguments": "参数 / Arguments",
}
_HELP_HELP = "显示本帮助并退出 / Show this message and exit."


class _HelpFormatter(click.HelpFormatter):
    """click's help with bilingual headings."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, prefix="用法 / Usage: " if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        super().write_heading(_HEADINGS.get(heading, heading))


class _Context(click.Context):
    formatter_class = _HelpFormatter


class _Command(click.Command):
    context_class = _Context

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = _HELP_HELP
        return option


class _Group(click.Group):
    context_class = _Context
    command_class = _Command

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = _HELP_HELP
        return option

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """click's ``main``, with its usage errors in Chinese first (``--lang en``: English).

        See :mod:`coverage.usage_errors`; exit codes stay click's (2 for usage errors).
        """
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, False, **extra)
        from coverage.usage_errors import argv_language, show_usage_error

        try:
            rv = super().main(argv, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            show_usage_error(exc, lang=argv_language(argv))
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(labels.text("usage_aborted", argv_language(argv)), err=True)
            sys.exit(1)
        # not standalone, click returns the exit code of ctx.exit() (--version, --help)
        sys.exit(rv if isinstance(rv, int) else 0)


# --------------------------------------------------------------------------------------------
# output sets (coverage.outputset): every command that writes


@contextmanager
def output_folder(
    ctx: _Ctx,
    folder: Path,
    *,
    command: str,
    study: Study | None = None,
    inputs: Any = (),
    names: Any = (),
) -> Iterator[OutputSet]:
    """One output set for a command: checked before the work, committed at the end.

    Refuses (exit 2) an output over an input file or a planner's own file, and an unwritable
    folder (exit 1), before anything runs; write the files into ``out.path``; on success the
    files are committed together with ``run.json`` and ``--json`` gets ``out``, ``files`` and
    ``run_id``.
    """
    from coverage.outputset import output_set

    t0 = time.perf_counter()
    outer, ctx.timings = ctx.timings, {}
    try:
        with output_set(folder, command=command, study=study, inputs=inputs, names=names) as out:
            yield out
            out.timings.update(ctx.timings, total=time.perf_counter() - t0)
    finally:
        ctx.timings = outer
    ctx.result.update(out=str(folder), files=[str(p) for p in out.files], run_id=out.run_id)


def _cache_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The --refresh and --cache-dir options shared by the commands that load a network."""
    func = click.option(
        "--cache-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="缓存文件夹（默认：研究的 cache_dir 或 ./data/processed） / Cache folder "
        "(default: the study's cache_dir or ./data/processed).",
    )(func)
    return click.option(
        "--refresh",
        is_flag=True,
        help="即使有缓存也重建路网 / Rebuild the network even when cached.",
    )(func)


def _out_option(help_text: str = "输出文件夹 / Output folder.") -> Callable[..., Any]:
    return click.option(
        "--out", "out_dir", type=click.Path(path_type=Path), required=True, help=help_text
    )


def _written(ctx: _Ctx, files: list[Path]) -> None:
    click.echo(ctx.text("written") + ", ".join(str(f) for f in files))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    package_name=DIST_NAME,  # looked up lazily
    prog_name="coverage-planner",
    help="显示版本并退出 / Show the version and exit.",
)
@click.option("-v", "--verbose", count=True, help="显示调试日志 / Show the debug log on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="只显示警告和错误 / Only warnings and errors.")
@click.option(
    "--lang",
    type=click.Choice(list(labels.LANGUAGES)),
    default=None,
    help="输出语言（默认：研究文件的 language，否则中文） / Language of the messages "
    "(default: the study's language, else zh).",
)
@click.pass_context
def main(click_ctx: click.Context, verbose: int, quiet: bool, lang: str | None) -> None:
    """15分钟便民服务圈规划工具 / Plan 15-minute community service circles.

    覆盖分析、缺口识别与站点选址 (walk-time coverage, gaps and station siting) on
    OpenStreetMap walk networks. 每个命令都接受 / every command takes -v, -q, --json,
    --debug, --lang.
    """
    _set_logging(verbose, quiet)
    click_ctx.obj = _Ctx(lang)
    click_ctx.obj.verbose, click_ctx.obj.quiet = verbose, quiet


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.pass_obj
@command_options
def validate(ctx: _Ctx, study_file: Path) -> None:
    """检查研究文件及其输入图层 / Check a study file and its input layers."""
    from coverage import outputs, pipeline

    study = _load(study_file)
    if study.compounds is None and study.network.osm_file is None:
        # deriving compounds would download from OSM: validate checks the files only
        compounds, stations, candidates = pipeline.read_layers(
            study, area=pipeline.study_area(study)
        )
    else:
        data = pipeline.load_inputs(study, network=None)
        compounds, stations, candidates = data.compounds, data.stations, data.candidates
    click.echo(ctx.text("study_line", name=study.name))
    click.echo(ctx.text("source_line", source=study.network.describe()))
    ctx.result.update(study=study.name, valid=True)
    if compounds is None:
        click.echo(ctx.text("compounds_from_osm"))
    else:
        click.echo(outputs.compounds_line(compounds, lang=ctx.lang))
        ctx.result.update(compounds=len(compounds), households=float(compounds["households"].sum()))
    for key, service in study.services.items():
        label = labels.pick(service.label_zh, service.label_en, ctx.lang)
        click.echo(ctx.text("stations_line", label=label, count=len(stations[key])))
    ctx.result["stations"] = {k: len(v) for k, v in stations.items()}
    if candidates is not None:
        click.echo(ctx.text("candidates_line", count=len(candidates)))
        ctx.result["candidates"] = len(candidates)
    click.echo(ctx.text("inputs_valid"))


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@_out_option(
    "nodes.parquet 与 edges.parquet 的文件夹 / Folder for nodes.parquet and edges.parquet."
)
@_cache_options
@click.pass_obj
@command_options
def network(
    ctx: _Ctx, study_file: Path, out_dir: Path, refresh: bool, cache_dir: Path | None
) -> None:
    """构建步行路网并导出 / Build (or load from cache) the walk network and write it out."""
    from coverage import network as netmod
    from coverage import pipeline

    study = _load(study_file)
    names = ["nodes.parquet", "edges.parquet"]
    with output_folder(ctx, out_dir, command="network", study=study, names=names) as out:
        with _step(ctx, *labels.TEXTS["step_network"]):
            net = pipeline.network_for_study(study, cache_dir=cache_dir, refresh=refresh)
        netmod.write_network_tables(net, out.path)
    source = ctx.text("from_cache" if net.meta.get("from_cache") else "built")
    summary = netmod.network_summary(net)
    click.echo(f"{_network_line(ctx, summary)} [{source}]")
    ctx.result.update(network=summary, from_cache=bool(net.meta.get("from_cache")))


def _run_analysis(
    ctx: _Ctx,
    study_file: Path,
    out_dir: Path,
    *,
    refresh: bool,
    cache_dir: Path | None,
    then: Callable[[Any, OutputSet], None] | None = None,
) -> Any:
    """Analyze a study into an output set; ``then(analysis, out)`` adds files to the set."""
    from coverage import network as netmod
    from coverage import outputs, pipeline

    study = _load(study_file)
    if study.note:
        click.echo(study.note)
    with output_folder(
        ctx, out_dir, command="analyze", study=study, names=outputs.ANALYSIS_FILES
    ) as out:
        with _step(ctx, *labels.TEXTS["step_network"]):
            net = pipeline.network_for_study(study, cache_dir=cache_dir, refresh=refresh)
        click.echo(_network_line(ctx, netmod.network_summary(net)))
        with _step(ctx, *labels.TEXTS["step_inputs"]):
            data = pipeline.load_inputs(study, network=net, cache_dir=cache_dir)
        click.echo(outputs.compounds_line(data.compounds, lang=ctx.lang))
        with _step(ctx, *labels.TEXTS["step_analyze"]):
            analysis = pipeline.analyze(study, net, data)
        with _step(ctx, *labels.TEXTS["step_write"]):
            # the files are in the study's language (是/否 or 1/0), whatever --lang says
            outputs.write_analysis(
                analysis, out.path, gcj02=outputs.study_uses_gcj02(study, inputs=data)
            )
            if then is not None:
                then(analysis, out)
        for line in outputs.coverage_lines(analysis, lang=ctx.lang):
            click.echo(line)
    _written(ctx, out.files)
    ctx.result.update(study=study.name, services=analysis.summary)
    return analysis


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@_out_option()
@_cache_options
@click.pass_obj
@command_options
def analyze(
    ctx: _Ctx, study_file: Path, out_dir: Path, refresh: bool, cache_dir: Path | None
) -> None:
    """步行时间、覆盖率与缺口 / Walk times, coverage and gaps for every service type.

    写出 / writes compounds.csv, stations.csv, gaps.csv, summary.csv, summary.json,
    coverage.gpkg and run.json, all together (an interrupted run leaves the previous set).
    """
    _run_analysis(ctx, study_file, out_dir, refresh=refresh, cache_dir=cache_dir)


def _area_line(ctx: _Ctx, done: int, total: int, res: Any) -> str:
    """One finished area for the progress on stderr."""
    if res.status == "ok":
        state = ctx.t(
            f"完成 {res.seconds.get('total', 0.0):.1f} s",
            f"done in {res.seconds.get('total', 0.0):.1f} s",
        )
    elif res.status == "empty":
        state = ctx.t("无小区", "no compounds")
    else:
        state = ctx.t("失败", "FAILED") + f": {res.error.splitlines()[0] if res.error else ''}"
    return f"[{done}/{total}] {res.name}: {state}"


def _worst_area_line(ctx: _Ctx, row: Any) -> str:
    """One of the worst areas of a batch for the terminal."""
    zh = f"第 {row.rank} 名（最差）{row.area}: {row.status}"
    en = f"#{row.rank} (worst) {row.area}: {row.status}"
    if row.status == "ok":
        share, left = row.worst_share_covered, row.households_left_out
        zh += f"，最低户数覆盖率 {share:.1%}，最多有 {left:,.0f} 户未被某类服务覆盖"
        en += f", lowest household coverage {share:.1%}, up to {left:,.0f} households left out"
    return ctx.t(zh, en)


def _batch_inputs(spec: Any) -> list[Path]:
    """The files a batch reads: the batch file, the template and area studies' inputs."""
    from coverage.outputset import input_paths

    paths = [Path(spec.path)] if spec.path is not None else []
    studies = [spec.study, *(getattr(a, "study", None) for a in spec.areas)]
    for study in studies:
        if study is not None:
            paths += input_paths(study)
    return paths


@main.command()
@click.argument("batch_file", type=click.Path(path_type=Path))
@_out_option()
@click.option(
    "--scheduler",
    default=None,
    metavar="tcp://HOST:8786",
    help="运行中的 Dask 调度器（默认：本机工作进程） / A running Dask scheduler (dask "
    "scheduler / dask worker); default: local workers.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="本机工作进程数（默认每核一个） / Local worker processes (default: one per core).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="等待调度器的秒数 / Seconds to wait for the scheduler.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="各工作进程都能读到的路网缓存文件夹（默认：研究的 cache_dir） / Network cache folder "
    "every worker can read (default: the study's cache_dir).",
)
@click.pass_obj
@command_options
def batch(
    ctx: _Ctx,
    batch_file: Path,
    out_dir: Path,
    scheduler: str | None,
    workers: int | None,
    timeout: float,
    cache_dir: Path | None,
) -> None:
    """多个区域一次分析（Dask） / Many areas at once on Dask: every county of a region.

    Runs the batch file's template study in every area of its areas layer (or each area's
    own study) on a local cluster of worker processes or on a running Dask scheduler, and
    writes combined compounds.csv, stations.csv, gaps.csv, summary.csv/json (with an area
    column) and areas.csv (the areas ranked worst first). Exit code 1 when an area failed.
    """
    from coverage import batch as batchmod
    from coverage import outputs

    spec = batchmod.load_batch(batch_file)
    click.echo(
        ctx.t(
            f"批处理: {spec.name}（{len(spec.areas)} 个区域）",
            f"Batch: {spec.name} ({len(spec.areas)} areas)",
        )
    )
    names = [*outputs.ANALYSIS_FILES, "areas.csv"]
    with output_folder(
        ctx, out_dir, command="batch", inputs=_batch_inputs(spec), names=names
    ) as out:
        with _step(ctx, "连接 Dask 集群", "connecting to the Dask cluster"):
            client = batchmod.connect(scheduler, workers=workers, timeout=timeout)
        try:
            info = client.scheduler_info()
            n_workers, address = len(info.get("workers", {})), info.get("address", "?")
            ctx.progress(
                ctx.t(
                    f"调度器 {address}，{n_workers} 个工作进程",
                    f"scheduler {address}, {n_workers} workers",
                )
            )
            link = batchmod.dashboard_link(client)
            if link:
                ctx.progress(ctx.t(f"Dask 仪表板: {link}", f"Dask dashboard: {link}"))
            done = [0]
            with progress_bar(ctx, ctx.t("区域", "areas"), total=len(spec.areas)) as bar:

                def progress(res: Any) -> None:
                    done[0] += 1
                    bar.update()
                    line = _area_line(ctx, done[0], len(spec.areas), res)
                    if bar.disable:
                        ctx.progress(line)
                    else:
                        bar.write(line, file=sys.stderr)

                result = batchmod.run_batch(
                    spec, client=client, cache_dir=cache_dir, out_dir=out.path, on_result=progress
                )
        finally:
            client.close()
        batchmod.write_batch(result, out.path)
        if result.failed:
            out.status, out.exit_code = "partial", 1
            out.extra["failed_areas"] = list(result.failed)
    for row in result.table.head(3).itertuples():
        click.echo(_worst_area_line(ctx, row))
    if result.unassigned:
        click.echo(
            ctx.t(
                f"警告: {result.unassigned} 个小区不在任何区域内，未计入",
                f"warning: {result.unassigned} compounds lie in no area and are left out",
            ),
            err=True,
        )
    for a, b in result.overlaps:
        click.echo(
            ctx.t(
                f"警告: 区域 {a} 与 {b} 重叠，重叠处的小区计入 {a}",
                f"warning: areas {a} and {b} overlap; compounds in both count for {a}",
            ),
            err=True,
        )
    _written(ctx, out.files)
    ctx.result.update(batch=spec.name, areas=len(spec.areas), failed=list(result.failed))
    if result.failed:
        click.echo(
            ctx.t(f"{len(result.failed)} 个区域失败: ", f"{len(result.failed)} areas failed: ")
            + ", ".join(result.failed)
            + ctx.t("（见 areas.csv）", " (see areas.csv)"),
            err=True,
        )
        sys.exit(1)


def _minutes_option(text: str | None) -> list[float] | None:
    """``--minutes 5,10,15`` as numbers (checked by the library)."""
    if text is None:
        return None
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise InputError(
            f"--minutes: 应为逗号分隔的数字 (expected numbers separated by commas), got {text!r}"
        ) from None


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@_out_option()
@click.option(
    "--service",
    "service_key",
    default=None,
    help="只算这一类服务（键名） / Only this service type (key).",
)
@click.option(
    "--minutes",
    default=None,
    help="阈值，如 5,10,15（默认：研究的） / Thresholds, e.g. 5,10,15 (default: the study's).",
)
@click.option(
    "--mode",
    "modes",
    type=click.Choice(["overlap", "dissolve", "split"]),
    multiple=True,
    help="overlap 每站一个；dissolve 每类服务合并；split 按最近站点划分（可重复，默认全部） / "
    "overlap: per station; dissolve: per service; split: nearest-station catchments "
    "(repeatable; default all three).",
)
@click.option(
    "--rings",
    is_flag=True,
    help="阈值之间的环带，而不是 0..T 的圆 / Bands between thresholds instead of 0..T disks.",
)
@click.option(
    "--geojson",
    is_flag=True,
    help="另为每种模式写一个 GeoJSON 文件 / Also write one GeoJSON file per mode.",
)
@_cache_options
@click.pass_obj
@command_options
def isochrones(
    ctx: _Ctx,
    study_file: Path,
    out_dir: Path,
    service_key: str | None,
    minutes: str | None,
    modes: tuple[str, ...],
    rings: bool,
    geojson: bool,
    refresh: bool,
    cache_dir: Path | None,
) -> None:
    """步行等时圈（5/10/15分钟服务圈多边形）/ Walk-time circles: service-area polygons."""
    import geopandas as gpd
    import pandas as pd

    from coverage import isochrones as iso
    from coverage import pipeline, snap

    study = _load(study_file)
    if service_key is not None and service_key not in study.services:
        raise InputError(
            f"--service: 研究中没有该服务类型 (no such service type) {service_key!r}; "
            f"available: {', '.join(study.services)}"
        )
    keys = [service_key] if service_key else list(study.services)
    thresholds = _minutes_option(minutes)
    modes = modes or iso.MODES
    names = ["isochrones.gpkg"] + [f"isochrones_{m}.geojson" for m in modes if geojson]
    with output_folder(ctx, out_dir, command="isochrones", study=study, names=names) as out:
        with _step(ctx, "读取步行路网", "loading the walk network"):
            net = pipeline.network_for_study(study, cache_dir=cache_dir, refresh=refresh)
        with _step(ctx, "读取并检查输入图层", "reading and checking the input layers"):
            data = pipeline.load_inputs(study, network=net, cache_dir=cache_dir)
            origins = snap.snap_study_compounds(
                study, data.compounds, net, entrances=data.entrances
            )
            # each station layer snapped once, for every mode
            placed = {
                k: snap.snap_layer(
                    data.stations[k], net, id_column="station_id", max_snap_m=study.max_snap_m
                )
                for k in keys
            }
        layers: dict[str, list[Any]] = {}
        tasks = [(i, mode, key) for i, mode in enumerate(modes) for key in keys]
        with progress_bar(ctx, ctx.t("等时圈", "circles"), total=len(tasks)) as bar:
            for i, mode, key in tasks:
                with (
                    _step(ctx, f"等时圈 {key} ({mode})", f"circles {key} ({mode})"),
                    warnings.catch_warnings(),
                ):
                    if i:  # stations far from the network were reported by the first mode
                        warnings.simplefilter("ignore", CoverageWarning)
                    layers.setdefault(mode, []).append(
                        iso.study_circles(
                            study,
                            key,
                            net,
                            placed[key],
                            data.compounds,
                            origins=origins,
                            minutes=thresholds,
                            mode=mode,  # type: ignore[arg-type]
                            rings=rings,
                        )
                    )
                bar.update()
        frames = {
            m: gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=4326)
            for m, parts in layers.items()
        }
        for mode, frame in frames.items():
            frame.to_file(out.path / "isochrones.gpkg", layer=mode, driver="GPKG", engine="pyogrio")
            if geojson:
                frame.to_file(
                    out.path / f"isochrones_{mode}.geojson", driver="GeoJSON", engine="pyogrio"
                )
    circles = []
    for mode, frame in frames.items():
        for row in frame[frame["station_id"].isna()].itertuples():
            span = f"{row.min_minutes:g}-{row.minutes:g}" if rings else f"{row.minutes:g}"
            click.echo(
                ctx.t(
                    f"{row.service} {span} 分钟{'环带' if rings else '圈'}: "
                    f"{row.area_km2:.2f} km², {row.households:,.0f} 户",
                    f"{row.service} {span} min: {row.area_km2:.2f} km², "
                    f"{row.households:,.0f} households",
                )
            )
            circles.append(
                {
                    "mode": mode,
                    "service": row.service,
                    "minutes": row.minutes,
                    "area_km2": row.area_km2,
                    "households": row.households,
                }
            )
        skipped = frame[frame["reason"] != ""]
        if len(skipped):
            click.echo(
                ctx.t(
                    f"{mode}: {skipped['station_id'].nunique()} 个站点无服务圈（见 reason 列）",
                    f"{mode}: {skipped['station_id'].nunique()} stations without a circle "
                    "(see the reason column)",
                )
            )
    _written(ctx, out.files)
    ctx.result["circles"] = circles


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("reports/demo"),
    show_default=True,
    help="示例研究及其结果的文件夹 / Folder for the sample study and its outputs.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="缓存文件夹（默认 ./data/processed） / Cache folder (default ./data/processed).",
)
@click.pass_obj
@command_options
def demo(ctx: _Ctx, out_dir: Path, cache_dir: Path | None) -> None:
    """用内置示例跑通全流程 / Run the whole pipeline on the built-in sample (offline).

    Writes the sample study (study.toml with its layers) into the folder first, then runs on
    exactly those files: copy the folder and edit it into a study of your own city.
    """
    from coverage import sample

    click.echo(ctx.text("demo_note"))
    with (
        output_folder(ctx, out_dir, command="demo-study") as out,
        _step(ctx, *labels.TEXTS["step_demo"]),
    ):
        sample.write_demo_study(out.path)
        sample.write_demo_batch(out.path)
    study_file, batch_file = out_dir / "study.toml", out_dir / "batch.toml"
    click.echo(ctx.text("demo_study_file", path=study_file))
    click.echo(
        ctx.t(
            f"示例批处理文件（四个片区）: {batch_file}；"
            f"运行 coverage-planner batch {batch_file} --out 输出文件夹",
            f"Sample batch file (four areas): {batch_file}; run coverage-planner batch "
            f"{batch_file} --out DIR",
        )
    )

    def add_map(analysis: Any, out: OutputSet) -> None:
        _write_map(
            ctx, study_file, analysis, out.path / "map.html", basemap="none", cache_dir=cache_dir
        )

    analysis = _run_analysis(
        ctx, study_file, out_dir, refresh=False, cache_dir=cache_dir, then=add_map
    )
    click.echo(ctx.t(f"地图: {out_dir / 'map.html'}", f"Map: {out_dir / 'map.html'}"))
    result = dict(ctx.result)
    # siting step: 3 new elderly meal points within 10 minutes (issue #10)
    click.echo(
        ctx.t("新站选址（老年助餐点，10 分钟，新增 3 个）", "Siting 3 new meal points (10 min)")
    )

    def add_siting_map(sited: Any, out: OutputSet) -> None:
        _write_map(
            ctx,
            study_file,
            analysis,
            out.path / "map.html",
            basemap="none",
            cache_dir=cache_dir,
            service="meal_point",
            sites=sited.sites,
        )

    sited = _run_siting(
        ctx,
        study_file,
        out_dir / "siting",
        service="meal_point",
        options={"new": 3, "minutes": 10.0, "curve_k": 6},
        generate=["osm", "gates", "kmeans"],
        refresh=False,
        cache_dir=cache_dir,
        then=add_siting_map,
    )
    siting_map = out_dir / "siting" / "map.html"
    click.echo(ctx.t(f"地图: {siting_map}", f"Map: {siting_map}"))
    ctx.result = {**result, "study_file": str(study_file), "siting": ctx.result}
    report_html = _demo_report(ctx, study_file, out_dir, analysis, sited, cache_dir=cache_dir)
    ctx.result["report"] = str(report_html)
    click.echo(ctx.text("demo_note"))


# --------------------------------------------------------------------------------------------
# site: new stations (issue #10)


def _site_lines(ctx: _Ctx, result: Any) -> list[str]:
    """What the terminal says about a siting: coverage before/after, the solve, the sites."""
    s = result.summary
    lines = [
        ctx.t(
            f"户数覆盖率（{s['minutes']:g} 分钟）: {s['share_before']:.1%} -> "
            f"{s['share_after']:.1%}，新增站点 {s['new_sites']} 个",
            f"households within {s['minutes']:g} min: {s['share_before']:.1%} -> "
            f"{s['share_after']:.1%} with {s['new_sites']} new sites",
        ),
        ctx.t(
            f"求解: {s['status']}，目标值 {s['objective']}，界 {s['bound']}，"
            f"差距 {s['gap']}，{s['solve_seconds']:.2f} 秒（贪心 {s['greedy_objective']}）",
            f"solve: {s['status']}, objective {s['objective']}, bound {s['bound']}, "
            f"gap {s['gap']}, {s['solve_seconds']:.2f} s (greedy {s['greedy_objective']})",
        ),
    ]
    for row in result.sites.head(10).itertuples():
        lines.append(
            "  "
            + ctx.t(
                f"{row.rank}. {row.name} [{row.source}] +{row.households_added:,.0f} 户",
                f"{row.rank}. {row.name} [{row.source}] +{row.households_added:,.0f} households",
            )
        )
    if s["compounds_unreached"]:
        lines.append(
            ctx.t(
                f"{s['compounds_unreached']} 个小区（{s['households_unreached']:,.0f} 户）"
                "无任何站点或候选点可达",
                f"{s['compounds_unreached']} compounds ({s['households_unreached']:,.0f} "
                "households) are reached by no station or candidate",
            )
        )
    return lines


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option(
    "--service",
    required=True,
    help="服务键名（研究中的 services.<key>） / Service key (services.<key> in the study).",
)
@click.option(
    "--model",
    type=click.Choice(["max-coverage", "min-stations", "min-walk", "capacitated"]),
    default="max-coverage",
    show_default=True,
    help="优化模型 / Optimisation model.",
)
@click.option("--new", "new", type=int, default=None, help="新增站点数 P / Number of new sites P.")
@click.option(
    "--target",
    type=float,
    default=None,
    help="min-stations: 要覆盖的户数比例 / share of households to reach.",
)
@click.option(
    "--minutes",
    type=float,
    default=None,
    help="T（默认：最大阈值） / T (default: largest threshold).",
)
@click.option(
    "--capacity",
    type=float,
    default=None,
    help="capacitated: 每站服务户数 / households per site.",
)
@click.option(
    "--cap",
    "cap_min",
    type=float,
    default=None,
    help="min-walk: 步行时间上限（2T） / time cap (2T).",
)
@click.option(
    "--generate",
    default="",
    help="生成候选点：逗号分隔的 osm,gates,kmeans / Generate candidates: comma-separated "
    "osm,gates,kmeans.",
)
@click.option(
    "--clusters",
    type=int,
    default=None,
    help="k-means 中心数（默认 2P，至少 10） / k-means centres (default 2P, >= 10).",
)
@click.option(
    "--curve",
    "curve_k",
    type=int,
    default=None,
    help="覆盖曲线算到 K 个站点（0：不算） / Curve up to K sites (0: off).",
)
@click.option(
    "--time-limit",
    type=float,
    default=60.0,
    show_default=True,
    help="求解时限（秒） / Solver limit (s).",
)
@_out_option()
@_cache_options
@click.pass_obj
@command_options
def site(
    ctx: _Ctx,
    study_file: Path,
    service: str,
    model: str,
    new: int | None,
    target: float | None,
    minutes: float | None,
    capacity: float | None,
    cap_min: float | None,
    generate: str,
    clusters: int | None,
    curve_k: int | None,
    time_limit: float,
    out_dir: Path,
    refresh: bool,
    cache_dir: Path | None,
) -> None:
    """新站选址（保留现有站点）/ Site new stations, keeping the existing ones."""
    if model == "min-stations" and new is not None:
        raise InputError("--new 不能与 min-stations 同用 (min-stations takes --target, not --new)")
    if model != "min-stations" and new is None:
        raise InputError(f"模型 {model} 需要 --new P (model {model} needs --new P)")
    _run_siting(
        ctx,
        study_file,
        out_dir,
        service=service,
        options={
            "model": model,
            "new": new,
            "target": target,
            "minutes": minutes,
            "capacity": capacity,
            "cap_min": cap_min,
            "n_clusters": clusters,
            "curve_k": curve_k,
            "time_limit_s": time_limit,
        },
        generate=[g.strip() for g in generate.split(",") if g.strip()],
        refresh=refresh,
        cache_dir=cache_dir,
    )


#: The files :func:`coverage.siting_study.write_siting` writes.
SITING_FILES = (
    "sites.csv",
    "assignment.csv",
    "curve.csv",
    "candidates.csv",
    "summary.json",
    "sites.gpkg",
)


def _run_siting(
    ctx: _Ctx,
    study_file: Path,
    out_dir: Path,
    *,
    service: str,
    options: dict[str, Any],
    generate: list[str],
    refresh: bool,
    cache_dir: Path | None,
    then: Callable[[Any, OutputSet], None] | None = None,
) -> Any:
    from coverage import network as netmod
    from coverage import pipeline, siting_study

    study = _load(study_file)
    if study.note:
        click.echo(study.note)
    if service not in study.services:
        raise InputError(
            f"研究中没有服务 {service!r} (no service {service!r} in the study); available: "
            + ", ".join(study.services)
        )
    with output_folder(ctx, out_dir, command="site", study=study, names=SITING_FILES) as out:
        with _step(ctx, "读取步行路网", "loading the walk network"):
            net = pipeline.network_for_study(study, cache_dir=cache_dir, refresh=refresh)
        click.echo(_network_line(ctx, netmod.network_summary(net)))
        with _step(ctx, "读取并检查输入图层", "reading and checking the input layers"):
            data = pipeline.load_inputs(study, network=net, cache_dir=cache_dir)
        features = None
        if {"osm", "gates"} & set(generate):
            if study.network.osm_file is None:
                raise InputError(
                    "--generate osm,gates 需要研究使用本地 OSM 文件 (osm_file) (--generate "
                    "osm/gates needs the study's network from an osm_file)"
                )
            features = pipeline.osm_features_for_study(study, cache_dir=cache_dir)
        with _step(ctx, "计算步行时间并求解选址模型", "computing walk times and solving"):
            result = siting_study.site_service(
                study, net, data, service=service, generate=generate, features=features, **options
            )
        siting_study.write_siting(result, out.path)
        if then is not None:
            then(result, out)
        out.extra["siting"] = {"service": service, "generate": generate, **options}
    for line in _site_lines(ctx, result):
        click.echo(line)
    _written(ctx, out.files)
    ctx.result.update(study=study.name, summary=result.summary)
    return result


def _map_language(ctx: _Ctx, study: Any) -> str:
    """--lang when given on the command line, else the study's language."""
    return ctx.option or str(study.language)


def _read_circles(path: Path) -> Any:
    """Read walk-time circles for a map: the ``dissolve`` layer of an isochrones GeoPackage
    when it has one (its first layer is ``overlap``, one polygon per station), else the file."""
    import geopandas as gpd

    layers = set(gpd.list_layers(path)["name"])
    return gpd.read_file(path, layer="dissolve") if "dissolve" in layers else gpd.read_file(path)


def _write_map(
    ctx: _Ctx,
    study_file: Path,
    analysis: Any,
    out: Path,
    *,
    basemap: str,
    cache_dir: Path | None,
    service: str | None = None,
    isochrones: Path | None = None,
    sites: Path | Any = None,
    data_date: str | None = None,
    network: Any = None,
) -> Path:
    """Write the map; ``network`` (else loaded for ``basemap="none"``) also gives the data
    extent drawn on it."""
    import geopandas as gpd

    from coverage import maps, pipeline

    study = _load(study_file)
    net = network
    if net is None and basemap == "none":
        net = pipeline.network_for_study(study, cache_dir=cache_dir)
    m = maps.coverage_map(
        analysis,
        study=study,
        network=net,
        service=service,
        basemap=basemap,
        lang=_map_language(ctx, study),
        isochrones=_read_circles(isochrones) if isochrones else None,
        sites=gpd.read_file(sites) if isinstance(sites, Path) else sites,
        data_date=data_date,
    )
    return maps.write_map(m, out)


@main.command(name="map")
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="要写出的 HTML 文件 / The HTML file to write.",
)
@click.option(
    "--service",
    default=None,
    help="服务键名（默认第一个） / Service key (default: the first one).",
)
@click.option(
    "--basemap",
    type=click.Choice(BASEMAPS),
    default="osm",
    show_default=True,
    help=f"底图 / Basemap. {basemap_help('zh')} / {basemap_help('en')}.",
)
@click.option(
    "--isochrones",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="要画的步行等时圈（如 isochrones.gpkg） / Walk-time areas to draw (e.g. isochrones.gpkg).",
)
@click.option(
    "--sites",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="要画的新站点（site_id, rank, households_added） / Proposed sites to draw (site_id, "
    "rank, households_added).",
)
@click.option("--data-date", default=None, help="标题中的数据日期 / Data date shown in the title.")
@_cache_options
@click.pass_obj
@command_options
def map_command(
    ctx: _Ctx,
    study_file: Path,
    out: Path,
    service: str | None,
    basemap: str,
    isochrones: Path | None,
    sites: Path | None,
    data_date: str | None,
    refresh: bool,
    cache_dir: Path | None,
) -> None:
    """交互式覆盖地图（单个 HTML 文件）/ Interactive coverage map, one self-contained HTML file."""
    from coverage import pipeline

    study = _load(study_file)
    if study.note:
        click.echo(study.note)
    extra = [p for p in (isochrones, sites) if p is not None]
    with output_folder(
        ctx, out.parent, command="map", study=study, inputs=extra, names=[out.name]
    ) as outset:
        with _step(ctx, "读取步行路网", "loading the walk network"):
            net = pipeline.network_for_study(study, cache_dir=cache_dir, refresh=refresh)
        with _step(ctx, "计算步行时间与覆盖", "computing walk times and coverage"):
            analysis = pipeline.analyze(
                study, net, pipeline.load_inputs(study, network=net, cache_dir=cache_dir)
            )
        with _step(ctx, "绘制地图", "drawing the map"):
            _write_map(
                ctx,
                study_file,
                analysis,
                outset.path / out.name,
                basemap=basemap,
                cache_dir=cache_dir,
                service=service,
                isochrones=isochrones,
                sites=sites,
                data_date=data_date,
                network=net,
            )
    click.echo(ctx.t(f"地图: {out}", f"Map: {out}"))
    ctx.result["map"] = str(out)


# --------------------------------------------------------------------------------------------
# report: the scheduled coverage-gap report (issue #12)


def _demo_report(
    ctx: _Ctx,
    study_file: Path,
    out_dir: Path,
    analysis: Any,
    sited: Any,
    *,
    cache_dir: Path | None,
) -> Path:
    """The demo's report bundle: ``<out>/report/<today>/`` and ``<out>/report/history.sqlite``."""
    from coverage import pipeline
    from coverage import report as reportmod

    study = _load(study_file)
    with _step(ctx, "写出定期报告", "writing the scheduled report"):
        net = pipeline.network_for_study(study, cache_dir=cache_dir)
        data = pipeline.load_inputs(study, network=net, cache_dir=cache_dir)
        result = reportmod.run_report(
            study_file,
            out_dir=out_dir,
            slug="report",
            cache_dir=cache_dir,
            lang=ctx.option,
            precomputed=(net, data, analysis),
            siting=sited,
        )
    click.echo(ctx.text("report_written", path=result.folder / "report.html"))
    click.echo(
        ctx.t(
            f"定期运行同一报告: coverage-planner report {study_file} --out {out_dir} --slug report",
            f"The same report on a schedule: coverage-planner report {study_file} --out "
            f"{out_dir} --slug report",
        )
    )
    return result.folder / "report.html"


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="报告文件夹：写出 <out>/<研究>/<日期>/ 和 history.sqlite / Reports folder: writes "
    "<out>/<study-slug>/<YYYY-MM-DD>/ and history.sqlite.",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="同一研究另一次运行未结束时等待的秒数（之后退出码 3） / Seconds to wait while another "
    "run of the study holds its lock (then exit 3).",
)
@click.option(
    "--date",
    "run_date",
    default=None,
    help="报告日期 YYYY-MM-DD（默认今天） / Report date YYYY-MM-DD (default today).",
)
@click.option(
    "--slug",
    default=None,
    help="研究的文件夹名（默认取自研究名称） / Folder name of the study (default from its name).",
)
@click.option(
    "--basemap",
    type=click.Choice(BASEMAPS),
    default="none",
    show_default=True,
    help=f"map.html 的底图 / Basemap of map.html. {basemap_help('zh')} / {basemap_help('en')}.",
)
@_cache_options
@click.pass_obj
@command_options
def report(
    ctx: _Ctx,
    study_file: Path,
    out_dir: Path,
    wait_s: float,
    run_date: str | None,
    slug: str | None,
    basemap: str,
    refresh: bool,
    cache_dir: Path | None,
) -> None:
    """定期覆盖缺口报告 / The scheduled coverage-gap report (for cron and systemd timers).

    Runs the study and writes report.html, gaps.xlsx, map.html, the analyze outputs, run.json
    and run.log into <out>/<study-slug>/<YYYY-MM-DD>/ all at once, and records the run in
    <out>/<study-slug>/history.sqlite. Exit codes: 0 done, 1 failed, 2 bad input, 3 another
    run of the study is still going (see --wait).
    """
    from coverage import outputs
    from coverage import report as reportmod
    from coverage.errors import LockedError

    _load(study_file)  # the language of the lines
    try:
        with _step(ctx, "生成报告", "making the report"):
            result = reportmod.run_report(
                study_file,
                out_dir=out_dir,
                run_date=run_date,
                slug=slug,
                wait_s=wait_s,
                cache_dir=cache_dir,
                refresh=refresh,
                lang=ctx.option,
                basemap=basemap,
            )
    except LockedError as exc:
        click.echo(str(exc), err=True)
        ctx.result["error"] = str(exc)
        sys.exit(3)
    for line in outputs.coverage_lines(result.analysis, lang=ctx.lang):
        click.echo(line)
    for line in _change_lines(ctx, result.changes):
        click.echo(line)
    click.echo(ctx.text("report_written", path=result.folder / "report.html"))
    ch = result.changes
    ctx.result.update(
        {
            "folder": str(result.folder),
            "files": result.files,
            "summary": result.analysis.summary,
            "previous_run": ch.previous.run_date if ch.previous else None,
            "gaps_closed": len(ch.gaps_closed),
            "new_gaps": len(ch.new_gaps),
            "stations_added": ch.stations_added["station_id"].tolist(),
            "stations_removed": ch.stations_removed["station_id"].tolist(),
        }
    )


def _change_lines(ctx: _Ctx, changes: Any) -> list[str]:
    """What changed since the previous report, for the terminal."""
    if changes.previous is None:
        return [ctx.text("report_first_run")]
    lines = []
    overall = changes.coverage[changes.coverage["group_level"] == ""]
    for row in overall.itertuples():
        if row.share_before == row.share_before and abs(row.delta) >= 5e-5:
            lines.append(
                ctx.text(
                    "report_change_line",
                    date=changes.previous.run_date,
                    label=row.label,
                    minutes=float(row.minutes),
                    before=float(row.share_before),
                    after=float(row.share_after),
                )
            )
    lines.append(
        ctx.text(
            "report_change_counts",
            closed=len(changes.gaps_closed),
            new=len(changes.new_gaps),
            added=len(changes.stations_added),
            removed=len(changes.stations_removed),
        )
    )
    return lines


if __name__ == "__main__":  # pragma: no cover
    main()
