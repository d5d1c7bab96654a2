"""Charts for the report: matplotlib figures inlined as SVG, Chinese labels in a CJK font.

The CJK font is found by path (Debian's ``fonts-noto-cjk``, else WenQuanYi or Droid
fallback, see :data:`CJK_FONT_PATHS`), never downloaded. Text is drawn as outlines in the
SVG, so the page needs no font of its own. Without a CJK font the charts use English labels
and :func:`cjk_font` returns ``None`` (the report says so).
"""

from __future__ import annotations

import base64
import io
import logging
import os
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "CJK_FONT_PATHS",
    "cjk_font",
    "coverage_by_threshold_svg",
    "coverage_curve_svg",
    "plot_coverage_history",
    "svg_data_uri",
]

log = logging.getLogger(__name__)

#: Where CJK fonts live on Debian/Ubuntu (first found wins); ``COVERAGE_CJK_FONT`` overrides.
CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")


@cache
def cjk_font() -> str | None:
    """The family name of a usable CJK font, registered with matplotlib (``None``: none found).

    Returns
    -------
    str or None
    """
    from matplotlib import font_manager

    override = os.environ.get("COVERAGE_CJK_FONT")
    paths = [override] if override is not None else list(CJK_FONT_PATHS)
    for path in paths:
        if path and Path(path).is_file():
            try:
                font_manager.fontManager.addfont(path)  # every face of a .ttc
                faces = [
                    f.name for f in font_manager.fontManager.ttflist if Path(f.fname) == Path(path)
                ]
                # Simplified Chinese glyph forms when the collection has them (Noto: "... SC")
                name = next((f for f in faces if f.endswith(" SC")), None) or (
                    faces[0] if faces else font_manager.FontProperties(fname=path).get_name()
                )
            except (OSError, RuntimeError, ValueError) as exc:  # unreadable font file
                log.debug("font %s not usable: %s", path, exc)
                continue
            log.debug("CJK font: %s (%s)", name, path)
            return str(name)
    log.info("no CJK font found (looked in %s): charts use English labels", ", ".join(paths))
    return None


def _figure(
    width: float, height: float, margins: tuple[float, float, float, float]
) -> tuple[Any, Any]:
    """A figure with fixed margins (left, right, bottom, top): no layout engine, one draw."""
    from matplotlib.figure import Figure  # no pyplot: no backend is chosen or changed

    fig = Figure(figsize=(width, height), dpi=100)
    fig.set_facecolor("white")
    left, right, bottom, top = margins
    fig.subplots_adjust(left=left, right=right, bottom=bottom, top=top)
    return fig, fig.subplots()


def _svg(fig: Any) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(
        {
            "svg.fonttype": "path",  # glyphs as outlines: no font needed to view
            "svg.hashsalt": "coverage-planner",  # the same chart gives the same file
            "font.family": [cjk_font() or "DejaVu Sans", "DejaVu Sans"],
        }
    ):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)


def _with_font(func: Any) -> Any:
    """Draw with the CJK font as the default family (texts are laid out at draw time)."""

    def wrapper(*args: Any, **kwargs: Any) -> str:
        import matplotlib

        with matplotlib.rc_context(
            {"font.family": [cjk_font() or "DejaVu Sans", "DejaVu Sans"], "font.size": 10}
        ):
            return str(func(*args, **kwargs))

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@_with_font
def coverage_by_threshold_svg(
    overall: pd.DataFrame,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    total_label: str,
) -> str:
    """Grouped bars: households covered per service at each threshold, with the total.

    Parameters
    ----------
    overall
        One row per service and threshold: ``label``, ``minutes``, ``households_covered``,
        ``households_total``, ``share_covered``.
    title, xlabel, ylabel, total_label
        Texts (in the report's language).

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    fig, ax = _figure(7.5, 3.6, (0.1, 0.8, 0.17, 0.9))
    services = list(dict.fromkeys(overall["label"]))
    thresholds = sorted(set(overall["minutes"].astype(float)))
    width = 0.8 / max(len(thresholds), 1)
    for j, minutes in enumerate(thresholds):
        rows = overall[overall["minutes"].astype(float) == minutes].set_index("label")
        values = [float(rows["households_covered"].get(s, 0.0)) for s in services]
        xs = [i - 0.4 + width * (j + 0.5) for i in range(len(services))]
        bars = ax.bar(xs, values, width * 0.92, label=f"{minutes:g} min", color=_COLOURS[j % 7])
        shares = [rows["share_covered"].get(s, float("nan")) for s in services]
        ax.bar_label(
            bars,
            labels=["" if pd.isna(s) else f"{float(s):.0%}" for s in shares],
            fontsize=7,
            padding=1,
        )
    totals = overall.groupby("label", sort=False)["households_total"].max()
    for i, s in enumerate(services):
        ax.hlines(float(totals[s]), i - 0.42, i + 0.42, colors="#333333", linestyles="dashed")
    ax.plot([], [], color="#333333", linestyle="dashed", label=total_label)
    ax.set_xticks(range(len(services)), services)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _style(ax)
    return _svg(fig)


@_with_font
def coverage_curve_svg(curve: pd.DataFrame, *, title: str, xlabel: str, ylabel: str) -> str:
    """The siting curve: share of households covered against the number of new sites.

    Parameters
    ----------
    curve
        ``new_sites``, ``share_covered`` (see :func:`coverage.siting.coverage_curve`).
    title, xlabel, ylabel
        Texts.

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    fig, ax = _figure(6.0, 3.2, (0.12, 0.97, 0.17, 0.88))
    x = curve["new_sites"].astype(int).to_numpy()
    y = curve["share_covered"].astype(float).to_numpy() * 100
    ax.plot(x, y, marker="o", color=_COLOURS[0])
    for xi, yi in zip(x, y, strict=True):
        ax.annotate(
            f"{yi:.1f}%",
            (xi, yi),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=7,
        )
    ax.set_xticks(x)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _style(ax)
    return _svg(fig)


def plot_coverage_history(history: pd.DataFrame, *, ax: Any = None, lang: str = "zh") -> Any:
    """Coverage over time, one line per service and threshold (for notebooks).

    Parameters
    ----------
    history
        :func:`coverage.history.read_coverage_history` (``run_date``, ``label``,
        ``minutes``, ``share_covered``).
    ax
        A matplotlib Axes to draw on (default: a new figure's).
    lang
        ``"zh"`` or ``"en"`` for the axis labels (English when no CJK font is found).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    font = cjk_font()
    zh = lang == "zh" and font is not None
    if font:
        plt.rcParams["font.family"] = [font, "DejaVu Sans"]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    for i, ((label, minutes), rows) in enumerate(history.groupby(["label", "minutes"], sort=False)):
        rows = rows.sort_values("run_date")
        ax.plot(
            rows["run_date"],
            rows["share_covered"].astype(float) * 100,
            marker="o",
            color=_COLOURS[i % len(_COLOURS)],
            label=f"{label} {float(str(minutes)):g} min",
        )
    dates = sorted(pd.to_datetime(history["run_date"]).unique())
    if len(dates) <= 12:  # one tick per report, not matplotlib's calendar ticks
        ax.set_xticks(dates, [pd.Timestamp(d).strftime("%Y-%m-%d") for d in dates])
    ax.tick_params(axis="x", labelrotation=30)
    ax.set_ylabel("户数覆盖率 (%)" if zh else "households covered (%)")
    ax.set_xlabel("报告日期" if zh else "report date")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _style(ax)
    return ax


def svg_data_uri(svg: str) -> str:
    """An SVG as a ``data:`` URI (for an ``<img src>``).

    Examples
    --------
    >>> svg_data_uri("<svg/>")
    'data:image/svg+xml;base64,PHN2Zy8+'
    """
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
