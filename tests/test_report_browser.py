"""report.html in a real browser (Debian's Chromium through Playwright), offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from _mapdata import PAYLOADS
from coverage import history, report
from test_maps_browser import Page, browser  # noqa: F401  (the shared fixture)
from test_report import grouped  # noqa: F401  (the lattice study with groups)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def two_runs(grouped, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """Two reports, the second after a station was removed, so the page shows changes."""
    from _mapdata import compounds, stations
    from coverage import pipeline

    s, net, analysis = grouped
    root = tmp_path_factory.mktemp("reports")
    first = root / "2026-10-30"
    first.mkdir()
    _files, snap, _ch, _rec = report.write_report(
        first, study=s, analysis=analysis, network=net, run_date="2026-10-30"
    )
    layer = compounds()
    layer["街道"] = ["东街道" if i % 2 else "西街道" for i in range(len(layer))]
    layer["社区"] = [f"社区{i % 4}" for i in range(len(layer))]
    fewer = stations()
    fewer["party"] = fewer["party"][fewer["party"]["station_id"] != "D3"]
    after = pipeline.analyze(s, net, pipeline.StudyInputs(layer, fewer), circles=False)
    second = root / "2026-11-30"
    second.mkdir()
    report.write_report(
        second,
        study=s,
        analysis=after,
        network=net,
        run_date="2026-11-30",
        previous=(history.RunInfo("r1", "2026-10-30"), snap),
    )
    return second / "report.html"


def test_report_renders_offline_without_errors(browser, two_runs: Path) -> None:  # noqa: F811
    page = Page(browser, two_runs)
    assert page.errors == [] and page.refused == [] and page.dialogs == []
    assert page.count("svg") >= 1
    box = page.page.locator("#chart svg").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    changes = page.page.locator("#changes").inner_text()
    assert "2026-10-30" in changes and "D3" in changes and "下降" in changes
    assert PAYLOADS[0] in page.page.locator("#loads").inner_text()  # shown as text
    assert page.count("#loads img") == 0
    assert page.count("tr.over") == 0
    assert "示例数据" in page.page.locator("#note").inner_text()
    shot = two_runs.parent / "report.png"
    page.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")
    page.context.close()
