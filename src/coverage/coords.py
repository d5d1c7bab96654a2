"""Coordinate systems: GCJ-02 / BD-09 <-> WGS-84, and choosing a local metric CRS.

Chinese web maps do not publish WGS-84 coordinates. AMap (高德), Tencent and Google's China
tiles use **GCJ-02** (国测局坐标, "Mars coordinates"): WGS-84 shifted by a non-linear offset
of a few hundred metres. Baidu uses **BD-09**, a second offset on top of GCJ-02. Addresses
geocoded or points picked on those maps must be converted before they meet OpenStreetMap.

The forward offsets are the widely published algorithm (Krasovsky 1940 ellipsoid,
``a = 6378245``, ``ee = 0.00669342162296594323``; BD-09 with ``x_pi = pi * 3000 / 180``),
written here by hand as vectorised numpy: no maintained package offers it for this Python
(``prcoords-typed`` needs Python >= 3.14, ``eviltransform``/``coordTransform_py`` are scalar
and unmaintained). The inverses (GCJ-02 -> WGS-84, BD-09 -> GCJ-02) have no closed form; they
are solved by fixed-point iteration until the forward transform of the estimate reproduces the
input within 1e-9 degree (about 0.1 mm), at most 30 iterations. The round trip over mainland
China is exact to well under a millimetre.

Out-of-China rule: like the reference implementations (eviltransform, coordtransform), a point
outside the rough bounding box of China, longitude 72.004..137.8347 E and latitude
0.8293..55.8271 N, gets no shift at all, for GCJ-02 and BD-09 alike. The box is crude: it
includes e.g. Mongolia, Korea and parts of South-East Asia (shifted) and the rule does not
follow the border; this matches what the Chinese map providers' own SDKs do for such points.
For the inverse transforms the rule is applied to the given (shifted) point.

Every function accepts scalars or array-likes (broadcast against each other) and returns a
pair of float64 arrays, or a pair of floats when both inputs are scalars. NaN stays NaN.

Examples
--------
>>> lon, lat = wgs84_to_gcj02(121.5272106, 31.1774276)
>>> round(lon, 9), round(lat, 9)
(121.531541859, 31.175303984)
>>> utm_crs_for(117.49, 30.66)
'EPSG:32650'
"""

from __future__ import annotations

import logging
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "to_wgs84",
    "utm_crs_for",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

logger = logging.getLogger(__name__)

_SYSTEMS = ("wgs84", "gcj02", "bd09")  # as config.COORD_SYSTEMS

_A = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0  # BD-09 constant
_TOL_DEG = 1e-9  # inverse transforms stop when the forward transform matches this closely
_MAX_ITER = 30

Floats = NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# array kernels (float64 arrays in, float64 arrays out)


def _outside(lon: Floats, lat: Floats) -> NDArray[np.bool_]:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_offset(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    """GCJ-02 minus WGS-84 in degrees at WGS-84 ``(lon, lat)`` (no out-of-China rule)."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat = dlat + common
    dlat = dlat + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon = dlon + common
    dlon = dlon + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon = dlon + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    dlon, dlat = _gcj_offset(lon, lat)
    out = _outside(lon, lat)
    return np.where(out, lon, lon + dlon), np.where(out, lat, lat + dlat)


def _gcj_to_bd(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    out = _outside(lon, lat)
    bd_lon = z * np.cos(theta) + 0.0065
    bd_lat = z * np.sin(theta) + 0.006
    return np.where(out, lon, bd_lon), np.where(out, lat, bd_lat)


def _bd_to_gcj_approx(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    """The usual one-step (approximate, about 1e-6 degree) inverse of :func:`_gcj_to_bd`."""
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Any, target_lon: Floats, target_lat: Floats, lon: Floats, lat: Floats
) -> tuple[Floats, Floats]:
    """Solve ``forward(lon, lat) == target`` by fixed-point iteration from a first guess.

    The offsets change slowly with position (their derivative is about 1e-5), so
    ``x <- x - (forward(x) - target)`` contracts quickly: 2-4 iterations reach 1e-9 degree.
    """
    lon = lon.copy()
    lat = lat.copy()
    for _ in range(_MAX_ITER):
        f_lon, f_lat = forward(lon, lat)
        d_lon = f_lon - target_lon
        d_lat = f_lat - target_lat
        lon -= d_lon
        lat -= d_lat
        err = np.maximum(np.abs(d_lon), np.abs(d_lat))
        if not np.any(err > _TOL_DEG):  # NaN compares False: NaN inputs never block the stop
            break
    else:  # pragma: no cover - the contraction converges in a few steps everywhere
        logger.warning("inverse coordinate transform did not converge within %d steps", _MAX_ITER)
    return lon, lat


def _gcj_to_wgs(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    dlon, dlat = _gcj_offset(lon, lat)
    out = _outside(lon, lat)
    g_lon, g_lat = _invert(_wgs_to_gcj, lon, lat, lon - dlon, lat - dlat)
    return np.where(out, lon, g_lon), np.where(out, lat, g_lat)


def _bd_to_gcj(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    a_lon, a_lat = _bd_to_gcj_approx(lon, lat)
    out = _outside(lon, lat)
    g_lon, g_lat = _invert(_gcj_to_bd, lon, lat, a_lon, a_lat)
    return np.where(out, lon, g_lon), np.where(out, lat, g_lat)


# --------------------------------------------------------------------------------------------
# public wrappers: scalars -> floats, arrays -> arrays


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats, bool]:
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    scalar = lon_a.ndim == 0 and lat_a.ndim == 0
    lon_b, lat_b = np.broadcast_arrays(lon_a, lat_a)
    return np.array(lon_b, dtype=np.float64), np.array(lat_b, dtype=np.float64), scalar


def _result(lon: Floats, lat: Floats, scalar: bool) -> Any:
    if scalar:
        return float(lon), float(lat)
    return lon, lat


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]: ...
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Any:
    """Convert WGS-84 longitude/latitude to GCJ-02 (AMap/Tencent).

    Parameters
    ----------
    lon, lat
        WGS-84 degrees; scalars or arrays of the same (broadcastable) shape.

    Returns
    -------
    tuple
        ``(lon, lat)`` in GCJ-02: floats for scalar input, float64 arrays otherwise. Points
        outside China (see the module docstring) are returned unchanged.

    Examples
    --------
    >>> [round(v, 6) for v in wgs84_to_gcj02(116.377817, 39.911954)]
    [116.384047, 39.913345]
    """
    x, y, scalar = _arrays(lon, lat)
    return _result(*_wgs_to_gcj(x, y), scalar)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]: ...
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Any:
    """Convert GCJ-02 longitude/latitude to WGS-84 (exact iterative inverse).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees; scalars or arrays.

    Returns
    -------
    tuple
        ``(lon, lat)`` in WGS-84, such that :func:`wgs84_to_gcj02` of the result reproduces
        the input within 1e-9 degree. Points outside China are returned unchanged.

    Examples
    --------
    >>> [round(v, 6) for v in gcj02_to_wgs84(121.531541859215, 31.17530398364597)]
    [121.527211, 31.177428]
    """
    x, y, scalar = _arrays(lon, lat)
    return _result(*_gcj_to_wgs(x, y), scalar)


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]: ...
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Any:
    """Convert GCJ-02 longitude/latitude to BD-09 (Baidu).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees; scalars or arrays.

    Returns
    -------
    tuple
        ``(lon, lat)`` in BD-09. Points outside China are returned unchanged.

    Examples
    --------
    >>> [round(v, 6) for v in gcj02_to_bd09(116.404, 39.915)]
    [116.410369, 39.921337]
    """
    x, y, scalar = _arrays(lon, lat)
    return _result(*_gcj_to_bd(x, y), scalar)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]: ...
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Any:
    """Convert BD-09 longitude/latitude to GCJ-02 (exact iterative inverse).

    The usual one-line formula is only an approximate inverse (errors up to about 1e-6
    degree); it is used as the first guess and refined until :func:`gcj02_to_bd09` of the
    result reproduces the input within 1e-9 degree.

    Parameters
    ----------
    lon, lat
        BD-09 degrees; scalars or arrays.

    Returns
    -------
    tuple
        ``(lon, lat)`` in GCJ-02. Points outside China are returned unchanged.

    Examples
    --------
    >>> [round(v, 5) for v in bd09_to_gcj02(116.404, 39.915)]
    [116.39763, 39.90866]
    """
    x, y, scalar = _arrays(lon, lat)
    return _result(*_bd_to_gcj(x, y), scalar)


@overload
def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]: ...
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Any:
    """Convert WGS-84 longitude/latitude to BD-09 (via GCJ-02).

    Parameters
    ----------
    lon, lat
        WGS-84 degrees; scalars or arrays.

    Returns
    -------
    tuple
        ``(lon, lat)`` in BD-09. Points outside China are returned unchanged.

    Examples
    --------
    >>> [round(v, 6) for v in wgs84_to_bd09(121.0917077, 30.6107779)]
    [121.102717, 30.614846]
    """
    x, y, scalar = _arrays(lon, lat)
    return _result(*_gcj_to_bd(*_wgs_to_gcj(x, y)), scalar)


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Floats, Floats]: ...
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Any:
    """Convert BD-09 longitude/latitude to WGS-84 (both inverse steps iterative and exact).

    Parameters
    ----------
    lon, lat
        BD-09 degrees; scalars or arrays.

    Returns
    -------
    tuple
        ``(lon, lat)`` in WGS-84. Points outside China are returned unchanged.

    Examples
    --------
    >>> [round(v, 6) for v in bd09_to_wgs84(121.10271732371203, 30.61484572185035)]
    [121.091708, 30.610778]
    """
    x, y, scalar = _arrays(lon, lat)
    return _result(*_gcj_to_wgs(*_bd_to_gcj(x, y)), scalar)


@overload
def to_wgs84(lon: float, lat: float, *, system: str) -> tuple[float, float]: ...
@overload
def to_wgs84(lon: ArrayLike, lat: ArrayLike, *, system: str) -> tuple[Floats, Floats]: ...
def to_wgs84(lon: ArrayLike, lat: ArrayLike, *, system: str) -> Any:
    """Convert coordinates in a named system to WGS-84.

    Parameters
    ----------
    lon, lat
        Degrees in ``system``; scalars or arrays.
    system
        ``"wgs84"`` (returned unchanged, as new arrays), ``"gcj02"`` or ``"bd09"``; case,
        ``-`` and ``_`` are ignored (``"GCJ-02"`` works).

    Returns
    -------
    tuple
        ``(lon, lat)`` in WGS-84.

    Raises
    ------
    ValueError
        If ``system`` is not one of the three names.

    Examples
    --------
    >>> [round(v, 6) for v in to_wgs84(116.404, 39.915, system="GCJ-02")]
    [116.397756, 39.913596]
    """
    key = system.lower().replace("-", "").replace("_", "")
    x, y, scalar = _arrays(lon, lat)
    if key == "wgs84":
        return _result(x, y, scalar)
    if key == "gcj02":
        return _result(*_gcj_to_wgs(x, y), scalar)
    if key == "bd09":
        return _result(*_gcj_to_wgs(*_bd_to_gcj(x, y)), scalar)
    raise ValueError(f"unknown coordinate system {system!r}; expected one of {', '.join(_SYSTEMS)}")


@overload
def out_of_china(lon: float, lat: float) -> bool: ...
@overload
def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]: ...
def out_of_china(lon: ArrayLike, lat: ArrayLike) -> Any:
    """Tell which points fall outside the box where the GCJ-02/BD-09 offsets apply.

    Parameters
    ----------
    lon, lat
        Degrees; scalars or arrays.

    Returns
    -------
    bool or numpy.ndarray
        True where no offset is applied (see the module docstring for the box).

    Examples
    --------
    >>> out_of_china(2.35, 48.86), out_of_china(117.49, 30.66)
    (True, False)
    """
    x, y, scalar = _arrays(lon, lat)
    out = _outside(x, y)
    return bool(out) if scalar else out


def utm_crs_for(lon: ArrayLike, lat: ArrayLike) -> str:
    """Choose the UTM zone (WGS-84) for a point or for the centre of many points.

    Parameters
    ----------
    lon, lat
        WGS-84 degrees: one point, arrays of points, or ``(west, east)`` and
        ``(south, north)`` bounds. For arrays the centre of their bounding box (ignoring
        NaN) decides the zone.

    Returns
    -------
    str
        ``"EPSG:326NN"`` north of the equator, ``"EPSG:327NN"`` south of it. The special
        zones around Norway and Svalbard are not used (they do not matter in China).

    Raises
    ------
    ValueError
        If there is no finite coordinate or the centre is not a valid longitude/latitude.

    Examples
    --------
    >>> utm_crs_for(117.49, 30.66), utm_crs_for([-43.3, -43.1], [-22.9, -22.8])
    ('EPSG:32650', 'EPSG:32723')
    """
    x = np.asarray(lon, dtype=np.float64).ravel()
    y = np.asarray(lat, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    y = y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        raise ValueError("utm_crs_for needs at least one finite longitude and latitude")
    cx = (float(x.min()) + float(x.max())) / 2.0
    cy = (float(y.min()) + float(y.max())) / 2.0
    if not (-180.0 <= cx <= 180.0 and -90.0 <= cy <= 90.0):
        raise ValueError(f"centre ({cx}, {cy}) is not a valid WGS-84 longitude/latitude")
    zone = min(int(np.floor((cx + 180.0) / 6.0)) + 1, 60)
    return f"EPSG:{(32600 if cy >= 0 else 32700) + zone}"
