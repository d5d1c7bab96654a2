"""A small analysed study for the map tests: a lattice, hostile names, two service types.

Compounds and stations carry names that try to run script (``PAYLOADS``); the analysis is made
by the real pipeline on a hand-made network, so the map sees the columns ``analyze`` writes.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point, Polygon

from _lattice import make_network, wgs
from coverage import pipeline
from coverage.config import Study, study_from_dict
from coverage.network import WalkNetwork

PAYLOADS = ("<img src=x onerror=alert(1)>", "${alert(2)}", "`);alert(3);(`")
STEP = 100.0
K = 8  # K x K lattice nodes, STEP metres apart


def lattice() -> WalkNetwork:
    """An 8 x 8 lattice (700 m square); its middle row is a primary road."""
    xy = [(c * STEP, r * STEP) for r in range(K) for c in range(K)]
    edges: list[tuple[int, int, str]] = []
    for r in range(K):
        for c in range(K - 1):
            edges.append((r * K + c, r * K + c + 1, "primary" if r == K // 2 else "footway"))
    for r in range(K - 1):
        for c in range(K):
            edges.append((r * K + c, (r + 1) * K + c, "residential"))
    return make_network(xy, edges)


def _square(x: float, y: float, half: float) -> Polygon:
    return Polygon(
        [
            wgs(x + dx, y + dy)
            for dx, dy in ((-half, -half), (half, -half), (half, half), (-half, half))
        ]
    )


def compounds() -> gpd.GeoDataFrame:
    """12 polygon compounds and 4 point compounds, three of them named by the payloads."""
    rows = []
    cells = [(c * STEP + 50, r * STEP + 50) for r in range(0, K - 1, 2) for c in range(0, K - 1, 2)]
    for i, (x, y) in enumerate(cells[:12]):
        rows.append((f"C{i:02d}", f"小区 {i}", 100.0 + 25 * i, _square(x, y, 30)))
    for j, (x, y) in enumerate([(150, 250), (350, 450), (550, 650), (650, 150)]):
        rows.append((f"P{j}", f"楼群 {j}", 50.0 + 200 * j, Point(wgs(x, y))))
    frame = pd.DataFrame(rows, columns=["compound_id", "name", "households", "geometry"])
    frame.loc[0, "name"] = PAYLOADS[0]
    frame.loc[5, "name"] = PAYLOADS[1]
    frame.loc[12, "name"] = PAYLOADS[2]
    frame.loc[1, "compound_id"] = PAYLOADS[2]
    frame["households_source"] = "given"
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)


def stations() -> dict[str, gpd.GeoDataFrame]:
    """Two service types: 3 party stations (two with payload names) and 2 meal points."""

    def layer(service: str, rows: list[tuple[str, str, float, float]]) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(
            {
                "station_id": [r[0] for r in rows],
                "name": [r[1] for r in rows],
                "service": service,
                "capacity": np.nan,
            },
            geometry=[Point(wgs(r[2], r[3])) for r in rows],
            crs=4326,
        )

    return {
        "party": layer(
            "party",
            [("D1", PAYLOADS[1], 0, 0), ("D2", PAYLOADS[0], 100, 400), ("D3", "党群站三", 600, 0)],
        ),
        "meal": layer("meal", [("M1", PAYLOADS[2], 300, 300), ("M2", "助餐点二", 700, 700)]),
    }


def study(**extra: object) -> Study:
    """The study: service labels with a payload, a note saying the data are a sample."""
    return study_from_dict(
        {
            "name": "测试研究 <b>粗体</b>",
            "network": {"bbox": [116.29, 39.99, 116.31, 40.01]},
            "note": "示例数据：测试用",
            "services": {
                "party": {
                    "stations": __file__,
                    "label_zh": "党群服务站",
                    "label_en": "Party",
                    "minutes": [2, 4, 6],
                },
                "meal": {
                    "stations": __file__,
                    "label_zh": f"助餐点{PAYLOADS[1]}",
                    "label_en": "Meal",
                    "minutes": [2, 4, 6],
                },
            },
            **extra,
        }
    )


def analysed(
    *, circles: bool = False, **extra: object
) -> tuple[Study, WalkNetwork, pipeline.Analysis]:
    """The study, its lattice and the real pipeline's analysis of it (by default without
    the walk-time circles, which the map would draw as extra layers)."""
    s = study(**extra)
    net = lattice()
    data = pipeline.StudyInputs(compounds(), stations())
    return s, net, pipeline.analyze(s, net, data, circles=circles)
