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
from coverage.errors import CoverageError, CoverageWarning, InputError

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


@main.command()
@click.argument("batch_file", type=click.Path(path_type=Path))
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Output folder."
)
@click.option(
    "--scheduler",
    default=None,
    metavar="tcp://HOST:8786",
    help="A running Dask scheduler (dask scheduler / dask worker); default: local workers.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local worker processes (default: one per core).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the scheduler.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Network cache folder every worker can read (default: the study's cache_dir).",
)
@click.pass_obj
@_guard
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

    spec = batchmod.load_batch(batch_file)
    click.echo(
        ctx.t(
            f"批处理: {spec.name}（{len(spec.areas)} 个区域）",
            f"Batch: {spec.name} ({len(spec.areas)} areas)",
        )
    )
    with _step(ctx, "连接 Dask 集群", "connecting to the Dask cluster"):
        client = batchmod.connect(scheduler, workers=workers, timeout=timeout)
    try:
        info = client.scheduler_info()
        n_workers, address = len(info.get("workers", {})), info.get("address", "?")
        click.echo(
            ctx.t(
                f"调度器 {address}，{n_workers} 个工作进程",
                f"scheduler {address}, {n_workers} workers",
            ),
            err=True,
        )
        link = batchmod.dashboard_link(client)
        if link:
            click.echo(ctx.t(f"Dask 仪表板: {link}", f"Dask dashboard: {link}"), err=True)
        done = [0]

        def progress(res: Any) -> None:
            done[0] += 1
            click.echo(_area_line(ctx, done[0], len(spec.areas), res), err=True)

        result = batchmod.run_batch(
            spec, client=client, cache_dir=cache_dir, out_dir=out_dir, on_result=progress
        )
    finally:
        client.close()
    files = batchmod.write_batch(result, out_dir)
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
    click.echo(ctx.t("已写出: ", "Written: ") + ", ".join(str(f) for f in files))
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
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Output folder."
)
@click.option("--service", "service_key", default=None, help="Only this service type (key).")
@click.option("--minutes", default=None, help="Thresholds, e.g. 5,10,15 (default: the study's).")
@click.option(
    "--mode",
    "modes",
    type=click.Choice(["overlap", "dissolve", "split"]),
    multiple=True,
    help="overlap: per station; dissolve: per service; split: nearest-station catchments "
    "(repeatable; default all three).",
)
@click.option("--rings", is_flag=True, help="Bands between thresholds instead of 0..T disks.")
@click.option("--geojson", is_flag=True, help="Also write one GeoJSON file per mode.")
@_cache_options
@click.pass_obj
@_guard
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
    from coverage._atomic import atomic_path

    study = _load(study_file)
    if service_key is not None and service_key not in study.services:
        raise InputError(
            f"--service: 研究中没有该服务类型 (no such service type) {service_key!r}; "
            f"available: {', '.join(study.services)}"
        )
    keys = [service_key] if service_key else list(study.services)
    thresholds = _minutes_option(minutes)
    with _step(ctx, "读取步行路网", "loading the walk network"):
        net = pipeline.network_for_study(study, cache_dir=cache_dir, refresh=refresh)
    with _step(ctx, "读取并检查输入图层", "reading and checking the input layers"):
        data = pipeline.load_inputs(study, network=net)
        origins = snap.snap_study_compounds(study, data.compounds, net, entrances=data.entrances)
        # each station layer snapped once, for every mode
        placed = {
            k: snap.snap_layer(
                data.stations[k], net, id_column="station_id", max_snap_m=study.max_snap_m
            )
            for k in keys
        }
    layers: dict[str, list[Any]] = {}
    for i, mode in enumerate(modes or iso.MODES):
        for key in keys:
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
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = {
        m: gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=4326)
        for m, parts in layers.items()
    }
    files = [out_dir / "isochrones.gpkg"]
    with atomic_path(files[0]) as tmp:
        for mode, frame in frames.items():
            frame.to_file(tmp, layer=mode, driver="GPKG", engine="pyogrio")
    if geojson:
        for mode, frame in frames.items():
            path = out_dir / f"isochrones_{mode}.geojson"
            with atomic_path(path) as tmp:
                frame.to_file(tmp, driver="GeoJSON", engine="pyogrio")
            files.append(path)
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
        skipped = frame[frame["reason"] != ""]
        if len(skipped):
            click.echo(
                ctx.t(
                    f"{mode}: {skipped['station_id'].nunique()} 个站点无服务圈（见 reason 列）",
                    f"{mode}: {skipped['station_id'].nunique()} stations without a circle "
                    "(see the reason column)",
                )
            )
    click.echo(ctx.t("已写出: ", "Written: ") + ", ".join(str(f) for f in files))


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
        batch_file = sample.write_demo_batch(out_dir)
    click.echo(ctx.text("demo_study_file", path=study_file))
    click.echo(
        ctx.t(
            f"示例批处理文件（四个片区）: {batch_file}；"
            f"运行 coverage-planner batch {batch_file} --out 输出文件夹",
            f"Sample batch file (four areas): {batch_file}; run coverage-planner batch "
            f"{batch_file} --out DIR",
        )
    )
    analysis = _run_analysis(ctx, study_file, out_dir, refresh=False, cache_dir=cache_dir)
    _write_map(ctx, study_file, analysis, out_dir / "map.html", basemap="none", cache_dir=cache_dir)
    # siting step: 3 new elderly meal points within 10 minutes (issue #10)
    click.echo(
        ctx.t("新站选址（老年助餐点，10 分钟，新增 3 个）", "Siting 3 new meal points (10 min)")
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
    )
    _write_map(
        ctx,
        study_file,
        analysis,
        out_dir / "siting" / "map.html",
        basemap="none",
        cache_dir=cache_dir,
        service="meal_point",
        sites=sited.sites,
    )
    _demo_report(ctx, study_file, out_dir, analysis, sited, cache_dir=cache_dir)
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
@click.option("--service", required=True, help="Service key (services.<key> in the study).")
@click.option(
    "--model",
    type=click.Choice(["max-coverage", "min-stations", "min-walk", "capacitated"]),
    default="max-coverage",
    show_default=True,
    help="Optimisation model.",
)
@click.option("--new", "new", type=int, default=None, help="Number of new sites P.")
@click.option(
    "--target", type=float, default=None, help="min-stations: share of households to reach."
)
@click.option("--minutes", type=float, default=None, help="T (default: largest threshold).")
@click.option("--capacity", type=float, default=None, help="capacitated: households per site.")
@click.option("--cap", "cap_min", type=float, default=None, help="min-walk: time cap (2T).")
@click.option(
    "--generate",
    default="",
    help="Generate candidates: comma-separated osm,gates,kmeans.",
)
@click.option("--clusters", type=int, default=None, help="k-means centres (default 2P, >= 10).")
@click.option("--curve", "curve_k", type=int, default=None, help="Curve up to K sites (0: off).")
@click.option("--time-limit", type=float, default=60.0, show_default=True, help="Solver limit (s).")
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Output folder."
)
@_cache_options
@click.pass_obj
@_guard
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
) -> Any:
    from coverage import network as netmod
    from coverage import osmdata, pipeline, siting_study

    study = _load(study_file)
    if study.note:
        click.echo(study.note)
    if service not in study.services:
        raise InputError(
            f"研究中没有服务 {service!r} (no service {service!r} in the study); available: "
            + ", ".join(study.services)
        )
    with _step(ctx, "读取步行路网", "loading the walk network"):
        net = pipeline.network_for_study(study, cache_dir=cache_dir, refresh=refresh)
    click.echo(_network_line(ctx, netmod.network_summary(net)))
    with _step(ctx, "读取并检查输入图层", "reading and checking the input layers"):
        data = pipeline.load_inputs(study, network=net)
    features = None
    if {"osm", "gates"} & set(generate):
        if study.network.osm_file is None:
            raise InputError(
                "--generate osm,gates 需要研究使用本地 OSM 文件 (osm_file) (--generate osm/gates "
                "needs the study's network from an osm_file)"
            )
        features = osmdata.read_osm_features(study.network.osm_file)
    with _step(ctx, "计算步行时间并求解选址模型", "computing walk times and solving"):
        result = siting_study.site_service(
            study, net, data, service=service, generate=generate, features=features, **options
        )
    files = siting_study.write_siting(result, out_dir)
    for line in _site_lines(ctx, result):
        click.echo(line)
    click.echo(ctx.t("已写出: ", "Written: ") + ", ".join(str(f) for f in files))
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
) -> Path:
    import geopandas as gpd

    from coverage import maps, pipeline

    study = _load(study_file)
    net = pipeline.network_for_study(study, cache_dir=cache_dir) if basemap == "none" else None
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
    path = maps.write_map(m, out)
    click.echo(ctx.t(f"地图: {path}", f"Map: {path}"))
    return path


@main.command(name="map")
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="The HTML file to write."
)
@click.option("--service", default=None, help="Service key (default: the first one).")
@click.option(
    "--basemap",
    type=click.Choice(["osm", "tianditu", "gaode", "none"]),
    default="osm",
    show_default=True,
    help="Tiles: OpenStreetMap, 天地图 (key: study tianditu_key or TIANDITU_KEY), 高德 "
    "(layers shifted to GCJ-02), or none (the walk network drawn offline).",
)
@click.option(
    "--isochrones",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Walk-time areas to draw (e.g. isochrones.gpkg).",
)
@click.option(
    "--sites",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Proposed sites to draw (site_id, rank, households_added).",
)
@click.option("--data-date", default=None, help="Data date shown in the title.")
@_cache_options
@click.pass_obj
@_guard
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
    with _step(ctx, "读取步行路网", "loading the walk network"):
        net = pipeline.network_for_study(study, cache_dir=cache_dir, refresh=refresh)
    with _step(ctx, "计算步行时间与覆盖", "computing walk times and coverage"):
        analysis = pipeline.analyze(study, net, pipeline.load_inputs(study, network=net))
    with _step(ctx, "绘制地图", "drawing the map"):
        _write_map(
            ctx,
            study_file,
            analysis,
            out,
            basemap=basemap,
            cache_dir=cache_dir,
            service=service,
            isochrones=isochrones,
            sites=sites,
            data_date=data_date,
        )


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
) -> None:
    """The demo's report bundle: ``<out>/report/<today>/`` and ``<out>/report/history.sqlite``."""
    from coverage import pipeline
    from coverage import report as reportmod

    study = _load(study_file)
    with _step(ctx, "写出定期报告", "writing the scheduled report"):
        net = pipeline.network_for_study(study, cache_dir=cache_dir)
        data = pipeline.load_inputs(study, network=net)
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


@main.command()
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Reports folder: writes <out>/<study-slug>/<YYYY-MM-DD>/ and history.sqlite.",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait while another run of the study holds its lock (then exit 3).",
)
@click.option("--date", "run_date", default=None, help="Report date YYYY-MM-DD (default today).")
@click.option("--slug", default=None, help="Folder name of the study (default from its name).")
@click.option(
    "--basemap",
    type=click.Choice(["osm", "tianditu", "gaode", "none"]),
    default="none",
    show_default=True,
    help="Basemap of map.html (none: the walk network, fully offline).",
)
@_cache_options
@click.pass_obj
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

    try:
        _load(study_file)  # the language of the lines
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
        sys.exit(3)
    except CoverageError as exc:
        _fail(exc)
    except OSError as exc:
        click.echo(ctx.text("report_unwritable", path=out_dir, error=exc), err=True)
        sys.exit(1)
    for line in outputs.coverage_lines(result.analysis, lang=ctx.lang):
        click.echo(line)
    for line in _change_lines(ctx, result.changes):
        click.echo(line)
    click.echo(ctx.text("report_written", path=result.folder / "report.html"))


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
