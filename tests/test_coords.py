"""Tests for coverage.coords: published vectors, exact round trips, out-of-China rule, UTM."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest

from coverage.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    utm_crs_for,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = pyproj.Geod(ellps="WGS84")

# WGS-84 -> GCJ-02 vectors (lat, lon order in the source), from googollee/eviltransform,
# python/test.py (the same table is in go/transform_test.go): Shanghai, Shenzhen, Beijing.
EVILTRANSFORM = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),
]

# wandergis/coordtransform README.md, "result" block for the input (116.404, 39.915):
#   gcj02tobd09  -> [116.41036949371029, 39.92133699351021]   (forward formula: exact)
#   wgs84togcj02 -> [116.41024449916938, 39.91640428150164]   (forward formula: exact)
#   bd09togcj02  -> [116.39762729119315, 39.90865673957631]   (one-step approximate inverse)
#   gcj02towgs84 -> [116.39775550083061, 39.91359571849836]   (one-step approximate inverse)
# The approximate inverses are off by a few centimetres (about 5e-7 degree); ours are exact.
CT_IN = (116.404, 39.915)
CT_GCJ_TO_BD = (116.41036949371029, 39.92133699351021)
CT_WGS_TO_GCJ = (116.41024449916938, 39.91640428150164)
CT_BD_TO_GCJ = (116.39762729119315, 39.90865673957631)
CT_GCJ_TO_WGS = (116.39775550083061, 39.91359571849836)

# Not used: Glatzel/pyxis tests (wgs84 (121.0917077, 30.6107779) -> bd09 (121.10271732371203,
# 30.61484572185035)) use a = 6378137 instead of Krasovsky's 6378245 and differ by 8e-8 degree;
# eviltransform's TESTS_bd vectors are not reproducible by the published formulas (~10 m off).


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM)
def test_wgs84_to_gcj02_published_vectors(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    lon, lat = wgs84_to_gcj02(wgs[1], wgs[0])
    assert lon == pytest.approx(gcj[1], abs=1e-9)
    assert lat == pytest.approx(gcj[0], abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM)
def test_gcj02_to_wgs84_recovers_published_vectors(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    lon, lat = gcj02_to_wgs84(gcj[1], gcj[0])
    # eviltransform's own gcj2wgs_exact test demands < 0.5 m; the iteration gives ~1e-9 deg
    assert GEOD.inv(lon, lat, wgs[1], wgs[0])[2] < 0.001
    assert lon == pytest.approx(wgs[1], abs=1e-8)
    assert lat == pytest.approx(wgs[0], abs=1e-8)


def test_coordtransform_readme_forward_vectors() -> None:
    assert gcj02_to_bd09(*CT_IN) == pytest.approx(CT_GCJ_TO_BD, abs=1e-12)
    assert wgs84_to_gcj02(*CT_IN) == pytest.approx(CT_WGS_TO_GCJ, abs=1e-12)
    # BD-09 from WGS-84 composes the two forward steps
    assert wgs84_to_bd09(*CT_IN) == pytest.approx(gcj02_to_bd09(*wgs84_to_gcj02(*CT_IN)), abs=1e-12)


def test_inverses_are_exact_and_close_to_published_approximations() -> None:
    gcj = bd09_to_gcj02(*CT_IN)
    assert gcj == pytest.approx(CT_BD_TO_GCJ, abs=1e-6)  # the README's one-step inverse
    assert gcj02_to_bd09(*gcj) == pytest.approx(CT_IN, abs=1e-9)  # ours: exact
    wgs = gcj02_to_wgs84(*CT_IN)
    assert wgs == pytest.approx(CT_GCJ_TO_WGS, abs=1e-5)
    assert wgs84_to_gcj02(*wgs) == pytest.approx(CT_IN, abs=1e-9)
    wgs_bd = bd09_to_wgs84(*CT_IN)
    assert wgs84_to_bd09(*wgs_bd) == pytest.approx(CT_IN, abs=1e-9)


def test_offset_size_is_the_known_few_hundred_metres() -> None:
    lon, lat = np.meshgrid(np.linspace(75, 134, 30), np.linspace(20, 52, 30))
    glon, glat = wgs84_to_gcj02(lon.ravel(), lat.ravel())
    d = GEOD.inv(lon.ravel(), lat.ravel(), glon, glat)[2]
    assert d.min() > 1.0 and d.max() < 1000.0


def _china_grid() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.linspace(73.7, 134.9, 50), np.linspace(18.2, 53.4, 40))
    return lon.ravel(), lat.ravel()  # 2000 points over mainland China's box


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [
        (wgs84_to_gcj02, gcj02_to_wgs84),
        (gcj02_to_bd09, bd09_to_gcj02),
        (wgs84_to_bd09, bd09_to_wgs84),
    ],
)
def test_round_trip_over_china_under_half_a_metre(forward, inverse) -> None:
    lon, lat = _china_grid()
    # forward then inverse, and inverse then forward
    back_lon, back_lat = inverse(*forward(lon, lat))
    err1 = GEOD.inv(lon, lat, back_lon, back_lat)[2]
    again_lon, again_lat = forward(*inverse(lon, lat))
    err2 = GEOD.inv(lon, lat, again_lon, again_lat)[2]
    # measured max error: about 1e-7 m (the iteration stops at 1e-9 degree ~ 0.1 mm)
    assert max(err1.max(), err2.max()) < 0.001
    assert max(err1.max(), err2.max()) < 0.5  # the requirement


def test_outside_china_points_are_unchanged() -> None:
    lon = np.array([2.3522, -74.006, 151.2093, 139.6917, 37.6173])  # Paris NY Sydney Tokyo ...
    lat = np.array([48.8566, 40.7128, -33.8688, 35.6895, 55.7558])
    assert out_of_china(lon, lat).all()
    for f in (
        wgs84_to_gcj02,
        gcj02_to_wgs84,
        gcj02_to_bd09,
        bd09_to_gcj02,
        wgs84_to_bd09,
        bd09_to_wgs84,
    ):
        x, y = f(lon, lat)
        np.testing.assert_array_equal(x, lon)
        np.testing.assert_array_equal(y, lat)
    assert not out_of_china(117.49, 30.66)


def test_scalars_give_floats_and_arrays_give_arrays() -> None:
    x, y = wgs84_to_gcj02(117.49, 30.66)
    assert type(x) is float and type(y) is float
    xs, ys = wgs84_to_gcj02([117.49, 117.5], [30.66, 30.67])
    assert isinstance(xs, np.ndarray) and xs.shape == (2,) and xs.dtype == np.float64
    assert xs[0] == x and ys[0] == y
    # broadcasting and NaN pass-through
    xs, ys = gcj02_to_wgs84(np.array([117.49, np.nan]), 30.66)
    assert np.isfinite(xs[0]) and np.isnan(xs[1]) and np.isnan(ys[1])


def test_inputs_are_not_modified() -> None:
    lon = np.array([117.49, 121.5])
    lat = np.array([30.66, 31.2])
    before = (lon.copy(), lat.copy())
    bd09_to_wgs84(lon, lat)
    gcj02_to_wgs84(lon, lat)
    np.testing.assert_array_equal(lon, before[0])
    np.testing.assert_array_equal(lat, before[1])


def test_to_wgs84_dispatch() -> None:
    lon, lat = 121.531541859215, 31.17530398364597
    assert to_wgs84(lon, lat, system="wgs84") == (lon, lat)
    assert to_wgs84(lon, lat, system="gcj02") == gcj02_to_wgs84(lon, lat)
    assert to_wgs84(lon, lat, system="GCJ-02") == gcj02_to_wgs84(lon, lat)
    assert to_wgs84(lon, lat, system="bd09") == bd09_to_wgs84(lon, lat)
    with pytest.raises(ValueError, match="unknown coordinate system 'utm'"):
        to_wgs84(lon, lat, system="utm")


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (117.49, 30.66, "EPSG:32650"),  # Chizhou, Anhui
        (116.40, 39.91, "EPSG:32650"),  # Beijing
        (121.47, 31.23, "EPSG:32651"),  # Shanghai
        (114.06, 22.54, "EPSG:32650"),  # Shenzhen (just east of 114 E)
        (113.26, 23.13, "EPSG:32649"),  # Guangzhou
        (87.6, 43.8, "EPSG:32645"),  # Urumqi
        (-51.2, -30.03, "EPSG:32722"),  # Porto Alegre (south)
        (180.0, 10.0, "EPSG:32660"),  # the antimeridian stays in zone 60
    ],
)
def test_utm_crs_for_points(lon: float, lat: float, expected: str) -> None:
    assert utm_crs_for(lon, lat) == expected
    # the zone really contains the point's meridian band
    zone = int(expected[-2:])
    assert -180 + 6 * (zone - 1) <= lon <= -180 + 6 * zone


def test_utm_crs_for_arrays_uses_the_bbox_centre() -> None:
    # a skewed set whose mean and bbox centre fall in different zones
    lon = np.r_[np.full(10, 113.0), 120.9, np.nan]
    lat = np.r_[np.full(10, 30.0), 30.4, np.nan]
    assert np.nanmean(lon) < 114.0  # the mean would give zone 49
    assert utm_crs_for(lon, lat) == "EPSG:32650"  # centre 116.95 -> zone 50
    assert utm_crs_for((117.4, 117.6), (30.6, 30.7)) == "EPSG:32650"  # bounds
    with pytest.raises(ValueError, match="finite"):
        utm_crs_for([np.nan], [np.nan])
