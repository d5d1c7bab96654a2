"""Which table columns hold longitude and latitude, and what their names say about the datum.

Planners' tables name their coordinate columns in many ways: ``经度``/``纬度``, ``lng``/``lat``,
``经度(GCJ)``, ``经度（GCJ-02）``, ``高德经度``, ``lng_bd09``, ``longitude (deg)``. A name is
read by :func:`coordinate_header`: it is normalised (NFKC: full-width brackets and letters
become ASCII; lower case), the datum words in it are noted (``gcj``/``高德``/``腾讯``/``火星``
for GCJ-02, ``bd``/``百度`` for BD-09, ``wgs``/``gps`` for WGS-84), bracketed parts, units and
separators are dropped, and what remains must be a longitude or latitude name.

Examples
--------
>>> coordinate_header("经度（GCJ-02）")
('lon', 'gcj02')
>>> coordinate_header("lat_bd09"), coordinate_header("Latitude (deg)")
(('lat', 'bd09'), ('lat', None))
>>> coordinate_header("户数")
(None, None)
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "LAT_COLUMNS",
    "LON_COLUMNS",
    "SYSTEM_NAMES",
    "coordinate_header",
]

#: Longitude column names matched exactly (case-insensitive), in order of preference.
LON_COLUMNS = ("lon", "lng", "longitude", "x", "经度", "东经")
#: Latitude column names matched exactly (case-insensitive), in order of preference.
LAT_COLUMNS = ("lat", "latitude", "y", "纬度", "北纬")
#: How messages name each coordinate system.
SYSTEM_NAMES = {"wgs84": "WGS-84", "gcj02": "GCJ-02", "bd09": "BD-09"}

_LON_BASES = frozenset({"lon", "lng", "long", "longitude", "x", "经度", "东经"})
_LAT_BASES = frozenset({"lat", "latitude", "y", "纬度", "北纬"})

# datum words (searched in the normalised, lower-case name), first match wins
_SYSTEM_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("gcj02", re.compile(r"gcj[-_ ]?0?2|gcj|高德|腾讯|火星|amap|gaode")),
    ("bd09", re.compile(r"bd[-_ ]?0?9(?:ll|mc)?|(?<![a-z])bd(?![a-z])|百度|baidu")),
    ("wgs84", re.compile(r"wgs[-_ ]?84|wgs|(?<![a-z])gps(?![a-z])")),
)
# bracketed parts: units, datum notes ("(°)", "(GCJ-02)", "[deg]")
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]|<[^>]*>|【[^】]*】|〔[^〕]*〕")
# words and marks that may sit beside a coordinate name (CGCS2000 is WGS-84 to a metre)
_NOISE = re.compile(
    r"cgcs[-_ ]?2000|坐标系|坐标|(?<![a-z])(?:decimal|degrees?|deg|dd|coord(?:inate)?s?)(?![a-z])"
    r"|°|[\s_\-./:：,，、]"
)


def coordinate_header(name: object) -> tuple[str | None, str | None]:
    """Read a column name as a coordinate column.

    Parameters
    ----------
    name
        A column name as found in the file.

    Returns
    -------
    tuple of (str or None, str or None)
        The axis (``"lon"``, ``"lat"`` or ``None`` when the name is not a coordinate column)
        and the coordinate system the name states (``"wgs84"``, ``"gcj02"``, ``"bd09"``) or
        ``None`` when it states none.
    """
    if not isinstance(name, str) or not name.strip():
        return None, None
    text = unicodedata.normalize("NFKC", name).strip().lower()
    system = next((key for key, words in _SYSTEM_WORDS if words.search(text)), None)
    base = _BRACKETS.sub("", text)
    for _, words in _SYSTEM_WORDS:
        base = words.sub("", base)
    base = _NOISE.sub("", base)
    if base in _LON_BASES or (len(base) > 2 and base.endswith("经度")):
        return "lon", system
    if base in _LAT_BASES or (len(base) > 2 and base.endswith("纬度")):
        return "lat", system
    return None, None
