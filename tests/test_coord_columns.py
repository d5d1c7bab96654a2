"""Tests for coverage.coord_columns: coordinate columns as planners name them."""

from __future__ import annotations

import pytest

from coverage.coord_columns import LAT_COLUMNS, LON_COLUMNS, coordinate_header


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("经度(GCJ)", ("lon", "gcj02")),
        ("纬度(GCJ)", ("lat", "gcj02")),
        ("经度（GCJ-02）", ("lon", "gcj02")),  # full-width brackets
        ("纬度（GCJ－02）", ("lat", "gcj02")),  # and a full-width minus
        ("高德经度", ("lon", "gcj02")),
        ("腾讯纬度", ("lat", "gcj02")),
        ("lng_gcj02", ("lon", "gcj02")),
        ("GCJ02_LAT", ("lat", "gcj02")),
        ("Lng_Amap", ("lon", "gcj02")),
        ("百度经度", ("lon", "bd09")),
        ("lon_bd09", ("lon", "bd09")),
        ("BD_LAT", ("lat", "bd09")),
        ("bd09ll_lng", ("lon", "bd09")),
        ("lat (WGS84)", ("lat", "wgs84")),
        ("longitude_wgs84", ("lon", "wgs84")),
        ("GPS纬度", ("lat", "wgs84")),
        ("经度(°)", ("lon", None)),
        ("Longitude (deg)", ("lon", None)),
        ("lng(度)", ("lon", None)),
        ("经度_CGCS2000", ("lon", None)),
        ("经度坐标", ("lon", None)),
        ("中心点纬度", ("lat", None)),
        ("X", ("lon", None)),
        ("Lat.", ("lat", None)),
        ("户数", (None, None)),
        ("小区编号", (None, None)),
        ("经", (None, None)),
        ("road_x", (None, None)),
        ("经度差", (None, None)),
        ("", (None, None)),
        (None, (None, None)),
        (117.5, (None, None)),
    ],
)
def test_coordinate_header(name: object, expected: tuple[str | None, str | None]) -> None:
    assert coordinate_header(name) == expected


def test_exact_names_read_as_their_axis() -> None:
    assert {coordinate_header(n) for n in LON_COLUMNS} == {("lon", None)}
    assert {coordinate_header(n) for n in LAT_COLUMNS} == {("lat", None)}
