"""The study description: a TOML file turned into frozen dataclasses.

A study names where the walk network comes from, the input layers (compounds, one station
layer per service type, optional candidate sites), the travel profiles and the service types.
:func:`load_study` checks every key and every referenced file and raises one
:class:`~coverage.errors.StudyError` listing all problems, each with its key path
(``services.party_station.minutes[1]: expected a positive number, got "ten"``).
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coverage.errors import Problem, StudyError
from coverage.labels import DEFAULT_LANGUAGE, LANGUAGES, pick
from coverage.osmfile import SUFFIX_TEXT, is_osm_file_name
from coverage.study_text import parse_study_text

__all__ = [
    "ACCESS_MODES",
    "COORD_SYSTEMS",
    "DEFAULT_FILL_HOLES_M2",
    "DEFAULT_FRONTAGE_M",
    "DEFAULT_GATE_LINK_M",
    "DEFAULT_GATE_TOLERANCE_M",
    "DEFAULT_MAX_SNAP_M",
    "DEFAULT_MINUTES",
    "DEFAULT_PROFILES",
    "LAYER_KEYS",
    "MAX_FRONTAGE_M",
    "CompoundEstimation",
    "LayerSpec",
    "NetworkSource",
    "Profile",
    "Service",
    "SitingRequest",
    "Study",
    "load_study",
    "study_from_dict",
]

COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")
#: The keys of a layer table (``[compounds]``, ``[services.<key>.stations]``, ``[candidates]``).
LAYER_KEYS = (
    "path",
    "coords",
    "layer",
    "id_column",
    "name_column",
    "households_column",
    "capacity_column",
    "lon_column",
    "lat_column",
    "encoding",
)
DEFAULT_MINUTES: tuple[float, ...] = (5.0, 10.0, 15.0)
#: Values of the study key ``access``: how residents leave a polygon compound
#: (see :mod:`coverage.access`).
ACCESS_MODES = ("auto", "gates", "entries", "open")
#: Default of the study key ``gate_tolerance_m``: a gate this close to a compound's boundary
#: can be its gate.
DEFAULT_GATE_TOLERANCE_M = 20.0
#: Default of the study key ``gate_link_m``: gates farther than this from every walkable way
#: are ignored.
DEFAULT_GATE_LINK_M = 50.0
DEFAULT_MAX_SNAP_M = 300.0
DEFAULT_FRONTAGE_M = 50.0
"""Walk-time circles: width (metres) each side of a reached street counted as reached."""
MAX_FRONTAGE_M = 500.0
"""A wider frontage is refused: the circle would no longer follow the streets."""
DEFAULT_FILL_HOLES_M2 = 5000.0
"""Walk-time circles: holes smaller than this (m2, a courtyard; not a park) are filled."""
"""Points farther than this (metres) from every walkable edge are not snapped (``max_snap_m``)."""


@dataclass(frozen=True)
class LayerSpec:
    """Where one input layer lives and how to read it.

    Attributes
    ----------
    path
        The file (absolute, resolved against the study file's folder).
    coords
        Coordinate system of CSV/XLSX coordinates: ``"wgs84"``, ``"gcj02"`` or ``"bd09"``.
        Geo files carry their own CRS; for them this must stay ``"wgs84"`` unless the file's
        coordinates are known to be GCJ-02/BD-09 numbers stored under EPSG:4326.
    layer
        Layer name inside a GeoPackage (or sheet name of an XLSX file).
    id_column, name_column, households_column, capacity_column
        Column names to use instead of the automatic detection.
    encoding
        Text encoding of a CSV or a Shapefile's .dbf, when it cannot be detected.
    lon_column, lat_column
        The longitude and latitude columns of a CSV/XLSX table, when their names are not
        recognised (``经度``, ``lng``, ``经度(GCJ)``, ``lat_bd09`` ... are).
    coords_explicit
        Whether the study file sets ``coords``. When it does not, a datum named in the
        coordinate columns (``经度(GCJ)``, ``lng_bd09``) decides; when it does, such a name
        must agree with it.
    language
        The language of the messages about the layer (the study's, or the command's
        ``--lang``): ``"zh"`` Chinese with the English, ``"en"`` English only.
    """

    path: Path
    coords: str = "wgs84"
    layer: str | None = None
    id_column: str | None = None
    name_column: str | None = None
    households_column: str | None = None
    capacity_column: str | None = None
    encoding: str | None = None
    lon_column: str | None = None
    lat_column: str | None = None
    coords_explicit: bool = False
    language: str = DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Profile:
    """A travel profile: walking speed and per-way-type slowdowns.

    Attributes
    ----------
    name
        Profile key, e.g. ``"adult"``.
    speed_kmh
        Walking speed on level ways in km/h.
    factors
        Time multipliers by OSM ``highway`` value (``{"steps": 2.0}`` makes steps take twice
        as long). Values must be >= 1 is not required, but must be > 0.
    """

    name: str
    speed_kmh: float
    factors: Mapping[str, float] = field(default_factory=dict)

    @property
    def speed_m_per_min(self) -> float:
        """Walking speed in metres per minute."""
        return self.speed_kmh * 1000.0 / 60.0


DEFAULT_PROFILES: Mapping[str, Profile] = {
    "adult": Profile("adult", 4.5, {"steps": 1.5}),
    "elderly": Profile("elderly", 3.0, {"steps": 2.5}),
}


@dataclass(frozen=True)
class Service:
    """One service type (party-mass station, rest point, meal point, grid station ...).

    Attributes
    ----------
    key
        Identifier used in outputs, e.g. ``"party_station"``.
    label_zh, label_en
        Labels shown to users.
    stations
        The station layer.
    minutes
        Walk-time thresholds in minutes, strictly increasing.
    profile
        Name of the travel profile to use.
    weight_column
        Compound column holding the demand weight (default ``households``).
    capacity
        Households one station can serve; ``None`` for no limit.
    """

    key: str
    label_zh: str
    label_en: str
    stations: LayerSpec
    minutes: tuple[float, ...] = DEFAULT_MINUTES
    profile: str = "adult"
    weight_column: str = "households"
    capacity: float | None = None


@dataclass(frozen=True)
class NetworkSource:
    """Where the walk network comes from: exactly one of the attributes is set.

    Attributes
    ----------
    place
        A place name geocoded by Nominatim through osmnx, e.g. ``"贵池区, 池州市, 安徽省"``.
    bbox
        ``(west, south, east, north)`` in WGS-84 degrees.
    polygon
        A polygon file (GeoJSON, GeoPackage ...) whose union is the study area.
    osm_file
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file, read offline.
    """

    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    polygon: Path | None = None
    osm_file: Path | None = None

    def describe(self) -> str:
        """Return a short human-readable description of the source."""
        if self.place is not None:
            return f"place {self.place!r}"
        if self.bbox is not None:
            return "bbox " + ",".join(f"{v:g}" for v in self.bbox)
        if self.polygon is not None:
            return f"polygon {self.polygon}"
        return f"file {self.osm_file}"


@dataclass(frozen=True)
class CompoundEstimation:
    """How compounds and households are derived from OSM when no compound layer is given.

    Attributes
    ----------
    default_levels
        Storeys assumed for a residential building without ``building:levels``.
    floor_area_per_household_m2
        Gross floor area per household in square metres.
    cluster_distance_m
        Residential buildings closer than this (outside any residential polygon) form one
        derived compound.
    """

    default_levels: float = 6.0
    floor_area_per_household_m2: float = 100.0
    cluster_distance_m: float = 30.0


@dataclass(frozen=True)
class SitingRequest:
    """The study's ``[siting]`` table: new sites the scheduled report proposes.

    Attributes
    ----------
    service
        Service key.
    new
        Number of new sites.
    minutes
        The threshold ``T`` (default: the service's largest).
    generate
        Candidate generators (``osm``, ``gates``, ``kmeans``) besides the study's candidates.
    curve
        The coverage curve up to this many new sites (default ``new``).
    """

    service: str
    new: int
    minutes: float | None = None
    generate: tuple[str, ...] = ()
    curve: int | None = None


@dataclass(frozen=True, repr=False)
class Study:
    """A whole study, as read from a TOML file.

    Attributes
    ----------
    name
        Study name shown in reports.
    path
        The study file itself (``None`` when built from a dict).
    network
        Where the walk network comes from.
    compounds
        The compound layer; ``None`` derives compounds from OSM.
    candidates
        Optional candidate sites for new stations.
    profiles
        Travel profiles by name (always contains ``adult`` and ``elderly``).
    services
        Service types by key, in file order.
    max_snap_m
        Points farther than this from any walkable way are reported ``far_from_network``.
    estimation
        Settings for deriving compounds and households from OSM.
    language
        ``"zh"`` (default) or ``"en"`` for user-facing text.
    cache_dir
        Where network caches live (default ``data/processed`` under the current folder).
    note
        A remark carried into every output (e.g. that the data are illustrative).
    group_by
        Compound columns to break coverage down by, coarse to fine (e.g. ``["街道", "社区"]``);
        empty means detect the usual ones (district/区县, street/街道, community/社区).
    tianditu_key
        Key for the Tianditu (天地图) map tiles; the ``TIANDITU_KEY`` environment variable is
        used when absent. Keep it out of files you share or commit.
    data_date
        Date of the input data shown on maps (e.g. ``"2026-11"``).
    frontage_m
        Walk-time circles: width each side of a reached street counted as reached (metres,
        ``0 < frontage_m <= 500``).
    fill_holes_m2
        Walk-time circles: holes smaller than this (m2, a courtyard) are filled.
    access
        How residents leave a polygon compound: ``"auto"`` (default), ``"gates"``,
        ``"entries"`` or ``"open"`` (see :mod:`coverage.access`).
    gate_tolerance_m
        A gate this close to a compound's boundary can be its gate.
    gate_link_m
        Gates farther than this from every walkable way are ignored.
    """

    name: str
    network: NetworkSource
    services: Mapping[str, Service]
    path: Path | None = None
    compounds: LayerSpec | None = None
    candidates: LayerSpec | None = None
    profiles: Mapping[str, Profile] = field(default_factory=lambda: dict(DEFAULT_PROFILES))
    max_snap_m: float = DEFAULT_MAX_SNAP_M
    estimation: CompoundEstimation = field(default_factory=CompoundEstimation)
    language: str = DEFAULT_LANGUAGE
    cache_dir: Path | None = None
    note: str | None = None
    group_by: tuple[str, ...] = ()
    tianditu_key: str | None = None
    data_date: str | None = None
    frontage_m: float = DEFAULT_FRONTAGE_M
    fill_holes_m2: float = DEFAULT_FILL_HOLES_M2
    access: str = "auto"
    gate_tolerance_m: float = DEFAULT_GATE_TOLERANCE_M
    gate_link_m: float = DEFAULT_GATE_LINK_M
    siting: SitingRequest | None = None

    def __repr__(self) -> str:
        services = ", ".join(list(self.services)[:8])
        if len(self.services) > 8:
            services += f" ... ({len(self.services)} in all)"
        name = self.name if len(self.name) <= 80 else self.name[:77] + "..."
        source = self.network.describe()
        source = source if len(source) <= 120 else "..." + source[-117:]
        compounds = "from OSM" if self.compounds is None else self.compounds.path.name
        return (
            f"Study({name!r}, network: {source}, compounds: {compounds}, "
            f"services: {services}, language={self.language!r})"
        )


def load_study(path: str | Path, *, lang: str | None = None) -> Study:
    """Read and check a study file.

    Parameters
    ----------
    path
        The TOML study file.
    lang
        Language of the problems: ``"zh"`` (Chinese with English in brackets) or ``"en"``;
        ``None`` uses the file's own ``language`` key (default ``"zh"``).

    Returns
    -------
    Study
        The study, with every file path resolved against the study file's folder.

    Raises
    ------
    StudyError
        Listing every problem: unreadable TOML (full-width punctuation named with its line and
        column), unknown keys, wrong types, missing files.
    """
    path = Path(path)
    if not path.is_file():
        raise StudyError(
            Problem(
                str(path),
                pick(
                    "研究文件不存在，请检查路径 (study file not found; check the path)",
                    "study file not found; check the path",
                    lang,
                ),
            )
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StudyError(
            Problem(
                str(path),
                pick(
                    f"研究文件不是 UTF-8 编码 (not UTF-8 text: {exc.reason}); 请在编辑器中另存为 "
                    "UTF-8 (save the file as UTF-8)",
                    f"not UTF-8 text ({exc.reason}); save the file as UTF-8",
                    lang,
                ),
            )
        ) from None
    data = parse_study_text(text, file=str(path), lang=lang)
    return study_from_dict(data, base_dir=path.parent, source=str(path), lang=lang)


def study_from_dict(
    data: Mapping[str, Any],
    *,
    base_dir: str | Path = ".",
    source: str = "<study>",
    lang: str | None = None,
) -> Study:
    """Build a :class:`Study` from a parsed TOML mapping.

    Parameters
    ----------
    data
        The parsed TOML document.
    base_dir
        Folder that relative file paths are resolved against.
    source
        Name of the study file used in error messages.
    lang
        Language of the problems: ``"zh"`` (Chinese with English in brackets) or ``"en"``;
        ``None`` uses the study's own ``language`` key (default ``"zh"``).

    Returns
    -------
    Study

    Raises
    ------
    StudyError
        Listing every problem found.

    Examples
    --------
    >>> study = study_from_dict({
    ...     "name": "贵池", "network": {"bbox": [117.40, 30.60, 117.55, 30.72]},
    ...     "services": {"party": {"stations": __file__, "minutes": [5, 10]}}})
    >>> study.services["party"].minutes, study.profiles["elderly"].speed_kmh
    ((5.0, 10.0), 3.0)
    >>> bad = {"name": "x", "network": {"place": "池州"}, "language": "en",
    ...        "services": {"party": {"stations": __file__, "minutes": [15, 10]}}}
    >>> try:
    ...     study_from_dict(bad)
    ... except StudyError as err:
    ...     print(err.problems[0].key, err.problems[0].message.split(";")[0])
    services.party.minutes thresholds must be strictly increasing, got [15, 10]
    >>> study_from_dict(bad, lang="zh")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    coverage.errors.StudyError: <study>: 研究文件有 1 个问题 (the study file has problems):
    - <study>: services.party.minutes: 阈值须严格递增，现为 [15, 10]；请从小到大填写...
    """
    if lang is None:
        own = data.get("language") if isinstance(data, Mapping) else None
        lang = own if own in LANGUAGES else DEFAULT_LANGUAGE
    checker = _Checker(source, Path(base_dir), lang=lang)
    study = checker.study(data)
    if checker.problems:
        n = len(checker.problems)
        header = pick(
            f"{source}: 研究文件有 {n} 个问题 (the study file has problems):",
            f"{source}: the study file has problems:",
            lang,
        )
        raise StudyError(checker.problems, header=header)
    assert study is not None
    return study


# --------------------------------------------------------------------------------------------
# checking


_MISSING = object()
#: Layer keys a planner may write in a service's own table: they apply to its stations.
_SERVICE_LAYER_KEYS = frozenset(LAYER_KEYS) - {"path", "households_column"}


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _fmt_zh(value: Any) -> str:
    if isinstance(value, dict):
        return "一个表"
    if isinstance(value, list):
        return "一个列表"
    return _fmt(value)


class _Checker:
    """Collects problems while walking the TOML tree."""

    def __init__(self, source: str, base_dir: Path, *, lang: str = DEFAULT_LANGUAGE) -> None:
        self.source = source
        self.base_dir = base_dir
        self.lang = lang
        self.problems: list[Problem] = []

    # -- primitives -----------------------------------------------------------------------
    def add(self, key: str, zh: str, en: str) -> None:
        """Record a problem: Chinese with English in brackets, or English only."""
        self.problems.append(Problem(self.source, pick(f"{zh} ({en})", en, self.lang), key=key))

    def table(self, data: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.add(
                key, f"应为一个表，现为 {_fmt_zh(data)}", f"expected a table, got {_fmt(data)}"
            )
            return {}
        for k in data:
            if k not in allowed:
                self.unknown_key(f"{key}.{k}" if key else k, k, allowed)
        return data

    def unknown_key(self, path: str, name: str, allowed: set[str]) -> None:
        """An unknown key: where it belongs when it is a layer key, else the closest key."""
        hint = ", ".join(sorted(allowed))
        close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.75)
        if name in LAYER_KEYS:
            self.add(
                path,
                f"未知的键；{name} 是图层的键，应写在图层表中：[compounds]、[candidates] 或 "
                f"[services.<服务>.stations]（站点图层的键也可直接写在 [services.<服务>] 中）",
                f"unknown key; {name} is a layer key and belongs in a layer table: "
                f"[compounds], [candidates] or [services.<service>.stations] (a station layer's "
                f"keys may also go in [services.<service>] itself)",
            )
        elif name == "name" and path.startswith("services."):
            self.add(
                path,
                '未知的键；服务的名称请写 label_zh = "党群服务站"（英文 label_en）',
                'unknown key; give the service\'s name as label_zh = "..." (and label_en)',
            )
        elif name in self._TOP_KEYS and path != name:
            table = path.removesuffix(f".{name}")
            self.add(
                path,
                f"未知的键；{name} 是研究文件顶层的键，应写在文件开头、第一个表（如 [network]）"
                f"之前：写在 [{table}] 下面的键都属于 [{table}]",
                f"unknown key; {name} is a top-level key and goes at the start of the file, "
                f"before the first table (such as [network]): keys below [{table}] belong to it",
            )
        elif close:
            self.add(
                path,
                f"未知的键；是否应为 {close[0]}？此处可用的键：{hint}",
                f"unknown key; did you mean {close[0]}? allowed keys here: {hint}",
            )
        else:
            self.add(
                path, f"未知的键；此处可用的键：{hint}", f"unknown key; allowed keys here: {hint}"
            )

    def missing(self, path: str, zh: str = "", en: str = "") -> None:
        self.add(path, "缺少必需的键" + zh, "required key is missing" + en)

    def string(
        self,
        data: Mapping[str, Any],
        key: str,
        name: str,
        *,
        required: bool = False,
        default: str | None = None,
        choices: tuple[str, ...] | None = None,
    ) -> str | None:
        value = data.get(name, _MISSING)
        path = f"{key}.{name}" if key else name
        if value is _MISSING:
            if required:
                self.missing(path)
            return default
        if not isinstance(value, str) or not value.strip():
            self.add(
                path,
                f"应为非空文字（加英文双引号），现为 {_fmt_zh(value)}",
                f"expected a non-empty string, got {_fmt(value)}",
            )
            return default
        if choices is not None and value not in choices:
            self.add(
                path,
                f"应为 {', '.join(choices)} 之一，现为 {_fmt(value)}",
                f"expected one of {', '.join(choices)}, got {_fmt(value)}",
            )
            return default
        return value

    def number(self, value: Any, path: str, *, positive: bool = True) -> float | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and math.isfinite(value) and (value > 0 or not positive):
            return float(value)
        zh = "正数" if positive else "数字"
        kind = "a positive number" if positive else "a number"
        self.add(
            path,
            f"应为{zh}（不加引号），现为 {_fmt_zh(value)}",
            f"expected {kind}, got {_fmt(value)}",
        )
        return None

    def opt_number(
        self, data: Mapping[str, Any], key: str, name: str, default: float | None
    ) -> float | None:
        if name not in data:
            return default
        got = self.number(data[name], f"{key}.{name}" if key else name)
        return default if got is None else got

    def file(self, value: Any, path: str, *, must_exist: bool = True) -> Path | None:
        if not isinstance(value, str) or not value.strip():
            self.add(
                path,
                f"应为文件路径（加英文双引号），现为 {_fmt_zh(value)}",
                f"expected a file path, got {_fmt(value)}",
            )
            return None
        p = Path(value).expanduser()
        if not p.is_absolute():
            p = self.base_dir / p
        if must_exist and not p.exists():
            self.add(
                path,
                f"文件不存在：{p}（相对路径以研究文件所在文件夹为起点）",
                f"file not found: {p} (paths are relative to the study file)",
            )
            return None
        return p

    # -- sections ---------------------------------------------------------------------------
    def layer(self, data: Any, key: str) -> LayerSpec | None:
        if isinstance(data, str):  # shorthand: just a path
            data = {"path": data}
        allowed = set(LAYER_KEYS)
        t = self.table(data, key, allowed)
        if not t:
            return None
        if "path" not in t:
            self.missing(f"{key}.path", "（图层文件）", " (the layer file)")
            return None
        p = self.file(t["path"], f"{key}.path")
        coords = self.string(t, key, "coords", default="wgs84", choices=COORD_SYSTEMS)
        opts = {k: self.string(t, key, k) for k in allowed - {"path", "coords"}}
        if p is None:
            return None
        return LayerSpec(
            path=p,
            coords=coords or "wgs84",
            coords_explicit="coords" in t,
            language=self.lang,
            **opts,
        )

    def network(self, data: Any) -> NetworkSource | None:
        t = self.table(data, "network", {"place", "bbox", "polygon", "osm_file"})
        given = [k for k in ("place", "bbox", "polygon", "osm_file") if k in t]
        if len(given) != 1:
            got = f"（现有 {', '.join(given)}）" if given else ""
            self.add(
                "network",
                "place、bbox、polygon、osm_file 须且只能给出一个" + got,
                "give exactly one of place, bbox, polygon, osm_file"
                + (f" (got {', '.join(given)})" if given else ""),
            )
            return None
        k = given[0]
        if k == "place":
            place = self.string(t, "network", "place")
            return NetworkSource(place=place) if place else None
        if k == "bbox":
            return self._bbox(t["bbox"])
        p = self.file(t[k], f"network.{k}")
        if p is None:
            return None
        if k == "osm_file" and not is_osm_file_name(p):
            self.add(
                "network.osm_file", f"应为 {SUFFIX_TEXT} 文件", f"expected an {SUFFIX_TEXT} file"
            )
            return None
        return NetworkSource(polygon=p) if k == "polygon" else NetworkSource(osm_file=p)

    def _bbox(self, value: Any) -> NetworkSource | None:
        path = "network.bbox"
        if not isinstance(value, list) or len(value) != 4:
            self.add(
                path,
                f"应为 [西, 南, 东, 北]（经纬度），现为 {_fmt_zh(value)}",
                f"expected [west, south, east, north] in degrees, got {_fmt(value)}",
            )
            return None
        nums = [self.number(v, f"{path}[{i}]", positive=False) for i, v in enumerate(value)]
        if any(n is None for n in nums):
            return None
        w, s, e, n = (float(v) for v in nums)  # type: ignore[arg-type]
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            self.add(
                path,
                f"应满足 西 < 东（在 -180~180 之间）、南 < 北（在 -90~90 之间），现为 {value}",
                "expected west < east within [-180, 180] and south < north within "
                f"[-90, 90], got {value}",
            )
            return None
        return NetworkSource(bbox=(w, s, e, n))

    def profiles(self, data: Any) -> dict[str, Profile]:
        out = dict(DEFAULT_PROFILES)
        if data is _MISSING:
            return out
        if not isinstance(data, dict):
            self.add(
                "profiles",
                f"应为一个表，现为 {_fmt_zh(data)}",
                f"expected a table, got {_fmt(data)}",
            )
            return out
        for name, value in data.items():
            key = f"profiles.{name}"
            factors: dict[str, float] = {}
            if isinstance(value, int | float) and not isinstance(value, bool):
                speed = self.number(value, key)
                base = DEFAULT_PROFILES.get(name)
                factors = dict(base.factors) if base else {}
            else:
                t = self.table(value, key, {"speed_kmh", "factors"})
                if not t:
                    continue
                if "speed_kmh" not in t:
                    self.missing(f"{key}.speed_kmh", "（步行速度，千米/小时）", " (km/h)")
                    continue
                speed = self.number(t["speed_kmh"], f"{key}.speed_kmh")
                ft = t.get("factors", {})
                if not isinstance(ft, dict):
                    self.add(
                        f"{key}.factors",
                        f"应为一个表，现为 {_fmt_zh(ft)}",
                        f"expected a table, got {_fmt(ft)}",
                    )
                else:
                    for hw, f in ft.items():
                        got = self.number(f, f"{key}.factors.{hw}")
                        if got is not None:
                            factors[hw] = got
            if speed is not None:
                out[name] = Profile(name, speed, factors)
        return out

    _SERVICE_KEYS = frozenset(
        {"label_zh", "label_en", "stations", "minutes", "profile", "weight_column", "capacity"}
    )

    def service(self, key_name: str, data: Any, profiles: Mapping[str, Profile]) -> Service | None:
        key = f"services.{key_name}"
        if not isinstance(data, dict) and key_name in LAYER_KEYS:
            self.unknown_key(key, key_name, set())  # [services] coords = "gcj02"
            return None
        t = self.table(data, key, set(self._SERVICE_KEYS | _SERVICE_LAYER_KEYS | {"path"}))
        if not t:
            return None
        if "path" in t:
            self.add(
                f"{key}.path",
                f'未知的键；站点文件请写作 stations = "{t["path"]}"',
                f'unknown key; give the station file as stations = "{t["path"]}"',
            )
        label_zh = self.string(t, key, "label_zh", default=key_name)
        label_en = self.string(t, key, "label_en", default=key_name)
        stations = None
        if "stations" not in t:
            self.missing(f"{key}.stations", "（站点图层文件）", " (the station layer file)")
        else:
            stations = self.layer(self._station_table(t, key), f"{key}.stations")
        minutes = self.minutes(t, key)
        profile = self.string(t, key, "profile", default="adult") or "adult"
        if profile not in profiles:
            self.add(
                f"{key}.profile",
                f"未定义的出行人群 {_fmt(profile)}；已定义：{', '.join(profiles)}",
                f"unknown travel profile {_fmt(profile)}; defined: {', '.join(profiles)}",
            )
        weight = self.string(t, key, "weight_column", default="households") or "households"
        capacity = self.opt_number(t, key, "capacity", None)
        if stations is None:
            return None
        return Service(
            key_name,
            label_zh or key_name,
            label_en or key_name,
            stations,
            minutes,
            profile,
            weight,
            capacity,
        )

    def _station_table(self, t: Mapping[str, Any], key: str) -> Any:
        """The station layer, with the layer keys written in the service's own table."""
        moved = {k: t[k] for k in _SERVICE_LAYER_KEYS if k in t}
        layer = t["stations"]
        if not moved:
            return layer
        if isinstance(layer, str):
            return {"path": layer, **moved}
        if isinstance(layer, dict):
            for k in sorted(moved.keys() & layer.keys()):
                self.add(
                    f"{key}.{k}",
                    f"{k} 写了两次：[{key}] 和 [{key}.stations] 中各一个，请只保留一个",
                    f"{k} is given twice, in [{key}] and in [{key}.stations]; keep one",
                )
            return {**moved, **layer}
        return layer

    def minutes(self, t: Mapping[str, Any], key: str) -> tuple[float, ...]:
        if "minutes" not in t:
            return DEFAULT_MINUTES
        raw = t["minutes"]
        if not isinstance(raw, list) or not raw:
            self.add(
                f"{key}.minutes",
                f"应为非空的分钟数列表，如 [5, 10, 15]，现为 {_fmt_zh(raw)}",
                f"expected a non-empty list of minutes, got {_fmt(raw)}",
            )
            return DEFAULT_MINUTES
        vals = [self.number(v, f"{key}.minutes[{i}]") for i, v in enumerate(raw)]
        if any(v is None for v in vals):
            return DEFAULT_MINUTES
        fv = tuple(float(v) for v in vals)  # type: ignore[arg-type]
        if any(b <= a for a, b in itertools.pairwise(fv)):
            self.add(
                f"{key}.minutes",
                f"阈值须严格递增，现为 {list(raw)}；请从小到大填写，如 [5, 10, 15]",
                f"thresholds must be strictly increasing, got {list(raw)}; list them from small "
                "to large, e.g. [5, 10, 15]",
            )
            return DEFAULT_MINUTES
        return fv

    _TOP_KEYS = frozenset(
        {
            "name",
            "language",
            "network",
            "compounds",
            "candidates",
            "profiles",
            "services",
            "max_snap_m",
            "estimation",
            "cache_dir",
            "note",
            "group_by",
            "tianditu_key",
            "data_date",
            "frontage_m",
            "fill_holes_m2",
            "access",
            "gate_tolerance_m",
            "gate_link_m",
            "siting",
        }
    )

    def study(self, data: Mapping[str, Any]) -> Study | None:
        top = self.table(dict(data), "", set(self._TOP_KEYS))
        name = self.string(top, "", "name", required=True, default="") or ""
        note = self.string(top, "", "note")
        tianditu_key = self.string(top, "", "tianditu_key")
        data_date = self.string(top, "", "data_date")
        group_by = self.group_by(top)
        language = (
            self.string(top, "", "language", default=DEFAULT_LANGUAGE, choices=LANGUAGES)
            or DEFAULT_LANGUAGE
        )
        network = None
        if "network" not in top:
            self.add(
                "network",
                "缺少必需的表 [network]（place、bbox、polygon 或 osm_file）",
                "required table is missing (place, bbox, polygon or osm_file)",
            )
        else:
            network = self.network(top["network"])
        compounds = self.layer(top["compounds"], "compounds") if "compounds" in top else None
        candidates = self.layer(top["candidates"], "candidates") if "candidates" in top else None
        profiles = self.profiles(top.get("profiles", _MISSING))
        services = self.services(top.get("services", _MISSING), profiles)
        max_snap = self.opt_number(top, "", "max_snap_m", DEFAULT_MAX_SNAP_M) or DEFAULT_MAX_SNAP_M
        access = self.string(top, "", "access", default="auto", choices=ACCESS_MODES) or "auto"
        gate_tol = self.opt_number(top, "", "gate_tolerance_m", DEFAULT_GATE_TOLERANCE_M)
        gate_link = self.opt_number(top, "", "gate_link_m", DEFAULT_GATE_LINK_M)
        est = self.estimation(top["estimation"]) if "estimation" in top else CompoundEstimation()
        siting = self.siting(top["siting"], services) if "siting" in top else None
        frontage, fill_holes = self.map_shapes(top)
        cache_dir = None
        if "cache_dir" in top:
            cache_dir = self.file(top["cache_dir"], "cache_dir", must_exist=False)
        if network is None:
            return None
        return Study(
            name=name,
            network=network,
            services=services,
            path=None if self.source == "<study>" else Path(self.source),
            compounds=compounds,
            candidates=candidates,
            profiles=profiles,
            max_snap_m=max_snap,
            estimation=est,
            language=language,
            cache_dir=cache_dir,
            note=note,
            group_by=group_by,
            tianditu_key=tianditu_key,
            data_date=data_date,
            frontage_m=frontage,
            fill_holes_m2=fill_holes,
            access=access,
            gate_tolerance_m=DEFAULT_GATE_TOLERANCE_M if gate_tol is None else gate_tol,
            gate_link_m=DEFAULT_GATE_LINK_M if gate_link is None else gate_link,
            siting=siting,
        )

    def group_by(self, top: Mapping[str, Any]) -> tuple[str, ...]:
        if "group_by" not in top:
            return ()
        raw = top["group_by"]
        if not isinstance(raw, list) or not all(isinstance(c, str) and c.strip() for c in raw):
            self.add(
                "group_by",
                f'应为列名列表，如 ["街道", "社区"]，现为 {_fmt_zh(raw)}',
                f"expected a list of column names, got {_fmt(raw)}",
            )
            return ()
        return tuple(raw)

    def services(self, raw: Any, profiles: Mapping[str, Profile]) -> dict[str, Service]:
        services: dict[str, Service] = {}
        if raw is _MISSING:
            self.add(
                "services",
                "缺少必需的表：请至少定义一类服务，如 [services.party_station]",
                "required table is missing: define at least one service type",
            )
        elif not isinstance(raw, dict) or not raw:
            self.add(
                "services",
                f"应为服务类型的表，现为 {_fmt_zh(raw)}",
                f"expected a table of service types, got {_fmt(raw)}",
            )
        else:
            for k, v in raw.items():
                s = self.service(k, v, profiles)
                if s is not None:
                    services[k] = s
        return services

    def map_shapes(self, top: Mapping[str, Any]) -> tuple[float, float]:
        frontage = self.opt_number(top, "", "frontage_m", DEFAULT_FRONTAGE_M) or DEFAULT_FRONTAGE_M
        if frontage > MAX_FRONTAGE_M:
            self.add(
                "frontage_m",
                f"应不大于 {MAX_FRONTAGE_M:g}（米），现为 {_fmt(frontage)}",
                f"expected at most {MAX_FRONTAGE_M:g} (metres), got {_fmt(frontage)}",
            )
        fill_holes = DEFAULT_FILL_HOLES_M2
        if "fill_holes_m2" in top:
            got = self.number(top["fill_holes_m2"], "fill_holes_m2", positive=False)
            if got is not None and got < 0:
                self.add(
                    "fill_holes_m2",
                    f"应为不小于 0 的数字，现为 {_fmt(got)}",
                    f"expected a number >= 0, got {_fmt(got)}",
                )
            elif got is not None:
                fill_holes = got
        return frontage, fill_holes

    def siting(self, data: Any, services: Mapping[str, Service]) -> SitingRequest | None:
        key = "siting"
        t = self.table(data, key, {"service", "new", "minutes", "generate", "curve"})
        service = self.string(t, key, "service", required=True)
        if service is not None and services and service not in services:
            self.add(
                f"{key}.service",
                f"没有这个服务类型；已定义：{'、'.join(services)}",
                f"unknown service; defined: {', '.join(services)}",
            )
            service = None
        counts: dict[str, int | None] = {}
        for name in ("new", "curve"):
            raw = t.get(name, _MISSING)
            if raw is _MISSING:
                if name == "new":
                    self.add(
                        f"{key}.new",
                        "缺少必填键：新增站点数",
                        "required key is missing (number of new sites)",
                    )
                counts[name] = None
            elif (
                isinstance(raw, bool)
                or not isinstance(raw, int)
                or raw < 0
                or (name == "new" and raw == 0)
            ):
                self.add(
                    f"{key}.{name}",
                    f"应为正整数，现为 {_fmt_zh(raw)}",
                    f"expected a positive whole number, got {_fmt(raw)}",
                )
                counts[name] = None
            else:
                counts[name] = raw
        minutes = self.opt_number(t, key, "minutes", None)
        generate = t.get("generate", [])
        known = ("osm", "gates", "kmeans")
        if not isinstance(generate, list) or any(g not in known for g in generate):
            self.add(
                f"{key}.generate",
                f"应为由 {'、'.join(known)} 组成的列表，现为 {_fmt_zh(generate)}",
                f"expected a list of {', '.join(known)}, got {_fmt(generate)}",
            )
            generate = []
        if service is None or counts["new"] is None:
            return None
        return SitingRequest(service, counts["new"], minutes, tuple(generate), counts["curve"])

    def estimation(self, data: Any) -> CompoundEstimation:
        key = "estimation"
        default = CompoundEstimation()
        et = self.table(data, key, set(default.__dataclass_fields__))
        values = {
            name: self.opt_number(et, key, name, getattr(default, name)) or getattr(default, name)
            for name in ("default_levels", "floor_area_per_household_m2", "cluster_distance_m")
        }
        return CompoundEstimation(**values)
