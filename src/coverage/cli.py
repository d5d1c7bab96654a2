"""The ``coverage-planner`` command: a thin layer over the library.

Exit codes: 0 success, 2 bad input (study file or layers; a readable message, no traceback),
1 other expected failures (network download, solver), anything else is a bug and shows a
traceback.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from coverage import labels
from coverage._identity import DIST_NAME
from coverage.errors import CoverageError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from coverage.config import Study

log = logging.getLogger("coverage")


class _Ctx:
    """The command's state: the language of its lines.

    ``--lang`` wins; without it the study's ``language`` applies once the study is read.
    """

    def __init__(self, lang: str | None) -> None:
        self.option = lang
        self.lang = lang or labels.DEFAULT_LANGUAGE

    def load(self, study_file: Path) -> Study:
        """Read the study; its language becomes the default of every line."""
        from coverage.config import load_study

        study = load_study(study_file)
        if self.option is None:
            self.lang = study.language
        return study

    def text(self, key: str, **values: Any) -> str:
        """The catalogue entry ``key`` (:mod:`coverage.labels`) in the command's language."""
        return labels.text(key, self.lang, **values)

    def t(self, zh: str, en: str) -> str:
        """The Chinese or the English form, in the command's language."""
        return labels.pick(zh, en, self.lang)


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


def _fail(exc: CoverageError) -> NoReturn:
    click.echo(str(exc), err=True)
    sys.exit(2 if isinstance(exc, InputError) else 1)


def _load(study_file: Path) -> Study:
    """Read the study; its language becomes the command's (unless --lang was given)."""
    ctx = click.get_current_context().obj
    assert isinstance(ctx, _Ctx)
    return ctx.load(study_file)


def _network_line(ctx: _Ctx, summary: dict[str, Any]) -> str:
    from coverage import outputs

    return outputs.network_line(summary, lang=ctx.lang)


@contextmanager
def _step(ctx: _Ctx, zh: str, en: str) -> Iterator[None]:
    """Show a step on stderr with its duration (``*labels.TEXTS[key]`` gives both forms)."""
    click.echo(f"… {ctx.t(zh, en)}", err=True)
    t0 = time.perf_counter()
    yield
    click.echo(f"  {ctx.text('done')} ({time.perf_counter() - t0:.1f} s)", err=True)


def _guard(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected library errors into a message and an exit code."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CoverageError as exc:
            _fail(exc)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _cache_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The --refresh and --cache-dir options shared by the commands that load a network."""
    func = click.option(
        "--cache-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Cache folder (default: the study's cache_dir or ./data/processed).",
    )(func)
    return click.option("--refresh", is_flag=True, help="Rebuild the network even when cached.")(
        func
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name=DIST_NAME, prog_name="coverage-planner")  # looked up lazily
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option(
    "--lang",
    type=click.Choice(list(labels.LANGUAGES)),
    default=None,
    help="Language of messages / 输出语言 (default: the study's language, else zh).",
)
@click.pass_context
def main(click_ctx: click.Context, verbose: int, quiet: bool, lang: str | None) -> None:
    """15分钟便民服务圈规划工具 / Plan 15-minute community service circles.

    覆盖分析、缺口识别与站点选址 (walk-time coverage, gaps and station siting) on
    OpenStreetMap walk networks.
    """
    level = (
        logging.ERROR if quiet else [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("coverage")
    root.handlers = [h for h in root.handlers if isinstance(h, logging.NullHandler)]
    root.addHandler(handler)
    root.setLevel(level)
    if not quiet:
        warnings.showwarning = _show_warning
    click_ctx.obj = _Ctx(lang)


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.pass_obj
@_guard
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
        data = pipeline.load_inputs(study)
        compounds, stations, candidates = data.compounds, data.stations, data.candidates
    click.echo(ctx.text("study_line", name=study.name))
    click.echo(ctx.text("source_line", source=study.network.describe()))
    if compounds is None:
        click.echo(ctx.text("compounds_from_osm"))
    else:
        click.echo(outputs.compounds_line(compounds, lang=ctx.lang))
    for key, service in study.services.items():
        label = labels.pick(service.label_zh, service.label_en, ctx.lang)
        click.echo(ctx.text("stations_line", label=label, count=len(stations[key])))
    if candidates is not None:
        click.echo(ctx.text("candidates_line", count=len(candidates)))
    click.echo(ctx.text("inputs_valid"))


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for nodes.parquet and edges.parquet.",
)
@_cache_options
@click.pass_obj
@_guard
def network(
    ctx: _Ctx, study_file: Path, out_dir: Path, refresh: bool, cache_dir: Path | None
) -> None:
    """构建步行路网并导出 / Build (or load from cache) the walk network and write it out."""
    from coverage import network as netmod
    from coverage import pipeline

    study = _load(study_file)
    with _step(ctx, *labels.TEXTS["step_network"]):
        net = pipeline.network_for_study(study, cache_dir=cache_dir, refresh=refresh)
    netmod.write_network_tables(net, out_dir)
    source = ctx.text("from_cache" if net.meta.get("from_cache") else "built")
    click.echo(f"{_network_line(ctx, netmod.network_summary(net))} [{source}]")


def _run_analysis(
    ctx: _Ctx, study_file: Path, out_dir: Path, *, refresh: bool, cache_dir: Path | None
) -> Any:
    from coverage import network as netmod
    from coverage import outputs, pipeline

    study = _load(study_file)
    if study.note:
        click.echo(study.note)
    with _step(ctx, *labels.TEXTS["step_network"]):
        net = pipeline.network_for_study(study, cache_dir=cache_dir, refresh=refresh)
    click.echo(_network_line(ctx, netmod.network_summary(net)))
    with _step(ctx, *labels.TEXTS["step_inputs"]):
        data = pipeline.load_inputs(study, network=net)
    click.echo(outputs.compounds_line(data.compounds, lang=ctx.lang))
    with _step(ctx, *labels.TEXTS["step_analyze"]):
        analysis = pipeline.analyze(study, net, data)
    files = outputs.write_analysis(analysis, out_dir)
    for line in outputs.coverage_lines(analysis, lang=ctx.lang):
        click.echo(line)
    click.echo(ctx.text("written") + ", ".join(str(f) for f in files))
    return analysis


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Output folder."
)
@_cache_options
@click.pass_obj
@_guard
def analyze(
    ctx: _Ctx, study_file: Path, out_dir: Path, refresh: bool, cache_dir: Path | None
) -> None:
    """步行时间、覆盖率与缺口 / Walk times, coverage and gaps for every service type."""
    _run_analysis(ctx, study_file, out_dir, refresh=refresh, cache_dir=cache_dir)


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("reports/demo"),
    show_default=True,
    help="Folder for the sample study and its outputs.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Cache folder (default ./data/processed).",
)
@click.pass_obj
@_guard
def demo(ctx: _Ctx, out_dir: Path, cache_dir: Path | None) -> None:
    """用内置示例跑通全流程 / Run the whole pipeline on the built-in sample (offline).

    Writes the sample study (study.toml with its layers) into the folder first, then runs on
    exactly those files: copy the folder and edit it into a study of your own city.
    """
    from coverage import sample

    click.echo(ctx.text("demo_note"))
    with _step(ctx, *labels.TEXTS["step_demo"]):
        study_file = sample.write_demo_study(out_dir)
    click.echo(ctx.text("demo_study_file", path=study_file))
    _run_analysis(ctx, study_file, out_dir, refresh=False, cache_dir=cache_dir)
    click.echo(ctx.text("demo_note"))


if __name__ == "__main__":  # pragma: no cover
    main()
