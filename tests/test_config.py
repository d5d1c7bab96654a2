"""Tests for coverage.config: the study file."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from coverage.config import DEFAULT_MINUTES, load_study, study_from_dict
from coverage.errors import InputError, StudyError


@pytest.fixture
def layers(tmp_path: Path) -> Path:
    for name in ("compounds.geojson", "party.csv", "meal.csv", "area.osm"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    return tmp_path


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "study.toml"
    p.write_text(text, encoding="utf-8")
    return p


GOOD = """
name = "池州市贵池区 15分钟便民服务圈"
note = "草案 draft"
[network]
osm_file = "area.osm"
[compounds]
path = "compounds.geojson"
[profiles]
adult = 4.8
slow = { speed_kmh = 2.5, factors = { steps = 3.0 } }
[services.party_station]
label_zh = "党群服务站"
label_en = "Party-mass service station"
stations = "party.csv"
[services.meal_point]
label_zh = "老年助餐点"
label_en = "Elderly meal point"
stations = { path = "meal.csv", coords = "gcj02" }
minutes = [5, 10]
profile = "elderly"
capacity = 400
"""


def test_good_study_resolves_paths_and_defaults(layers: Path) -> None:
    study = load_study(write(layers, GOOD))
    assert study.name == "池州市贵池区 15分钟便民服务圈"
    assert study.note == "草案 draft"
    assert study.group_by == ()
    grouped = load_study(
        write(layers, GOOD.replace('note = "草案 draft"', 'group_by = ["街道", "社区"]'))
    )
    assert grouped.group_by == ("街道", "社区")
    assert (study.access, study.gate_tolerance_m, study.gate_link_m) == ("auto", 20.0, 50.0)
    keyed = load_study(
        write(
            layers,
            GOOD.replace(
                'note = "草案 draft"', 'access = "open"\ngate_tolerance_m = 15\ngate_link_m = 30'
            ),
        )
    )
    assert (keyed.access, keyed.gate_tolerance_m, keyed.gate_link_m) == ("open", 15.0, 30.0)
    assert study.network.osm_file == layers / "area.osm"
    assert list(study.services) == ["party_station", "meal_point"]
    party = study.services["party_station"]
    assert party.minutes == DEFAULT_MINUTES
    assert party.profile == "adult"
    assert party.weight_column == "households"
    assert party.capacity is None
    meal = study.services["meal_point"]
    assert meal.stations.path == layers / "meal.csv"
    assert meal.stations.coords == "gcj02"
    assert meal.minutes == (5.0, 10.0)
    assert meal.capacity == 400.0
    assert study.profiles["adult"].speed_kmh == 4.8
    assert study.profiles["adult"].factors["steps"] == 1.5  # default factor kept
    assert study.profiles["elderly"].speed_kmh == 3.0
    assert study.profiles["slow"].factors == {"steps": 3.0}
    assert study.profiles["adult"].speed_m_per_min == pytest.approx(80.0)
    assert pickle.loads(pickle.dumps(study)) == study


@pytest.mark.parametrize(
    ("patch", "key", "fragment"),
    [
        (
            ("minutes = [5, 10]", 'minutes = [5, "ten"]'),
            "services.meal_point.minutes[1]",
            'expected a positive number, got "ten"',
        ),
        (
            ("minutes = [5, 10]", "minutes = [10, 5]"),
            "services.meal_point.minutes",
            "strictly increasing",
        ),
        (
            ("minutes = [5, 10]", "minutes = [5, -1]"),
            "services.meal_point.minutes[1]",
            "positive number",
        ),
        (
            ('profile = "elderly"', 'profile = "runner"'),
            "services.meal_point.profile",
            "unknown travel profile",
        ),
        (
            ('stations = "party.csv"', 'stations = "missing.csv"'),
            "services.party_station.stations.path",
            "file not found",
        ),
        (
            ('stations = "party.csv"', 'station = "party.csv"'),
            "services.party_station.station",
            "unknown key",
        ),
        (
            ("capacity = 400", 'capacity = "many"'),
            "services.meal_point.capacity",
            "positive number",
        ),
        (
            ('coords = "gcj02"', 'coords = "mars"'),
            "services.meal_point.stations.coords",
            "expected one of wgs84, gcj02, bd09",
        ),
        (
            ('osm_file = "area.osm"', 'osm_file = "area.osm"\nplace = "池州"'),
            "network",
            "exactly one of",
        ),
        (
            ('osm_file = "area.osm"', "bbox = [117.5, 30.7, 117.4, 30.6]"),
            "network.bbox",
            "west < east",
        ),
        (("adult = 4.8", "adult = 0"), "profiles.adult", "positive number"),
        (('name = "池州市贵池区 15分钟便民服务圈"', ""), "name", "required key is missing"),
        (("[compounds]", "[compound]"), "compound", "unknown key"),
        (
            ('note = "草案 draft"', 'note = "草案 draft"\ngroup_by = "社区"'),
            "group_by",
            "expected a list of column names",
        ),
        (
            ('note = "草案 draft"', 'note = "草案 draft"\naccess = "walls"'),
            "access",
            "expected one of auto, gates, entries, open",
        ),
        (
            ('note = "草案 draft"', 'note = "草案 draft"\ngate_tolerance_m = -5'),
            "gate_tolerance_m",
            "positive number",
        ),
    ],
)
def test_bad_study_names_key_path(
    layers: Path, patch: tuple[str, str], key: str, fragment: str
) -> None:
    old, new = patch
    assert old in GOOD
    p = write(layers, GOOD.replace(old, new))
    with pytest.raises(StudyError) as info:
        load_study(p)
    assert isinstance(info.value, InputError)
    assert isinstance(info.value, ValueError)
    text = str(info.value)
    assert f"{key}: " in text
    assert fragment in text
    assert str(p) in text


def test_all_problems_reported_together(layers: Path) -> None:
    text = (
        GOOD.replace("minutes = [5, 10]", 'minutes = [5, "ten"]')
        .replace('stations = "party.csv"', 'stations = "nope.csv"')
        .replace("adult = 4.8", "adult = -1")
    )
    with pytest.raises(StudyError) as info:
        load_study(write(layers, text))
    keys = {p.key for p in info.value.problems}
    assert keys == {
        "services.meal_point.minutes[1]",
        "services.party_station.stations.path",
        "profiles.adult",
    }
    err = pickle.loads(pickle.dumps(info.value))
    assert err.problems == info.value.problems


def test_unreadable_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="not found"):
        load_study(tmp_path / "nope.toml")
    p = write(tmp_path, "name = \n")
    with pytest.raises(StudyError, match="not valid TOML"):
        load_study(p)


def test_dict_study_with_bbox() -> None:
    study = study_from_dict(
        {
            "name": "x",
            "network": {"bbox": [117.4, 30.6, 117.5, 30.7]},
            "services": {"grid": {"stations": __file__, "capacity": 500}},
        },
    )
    assert study.network.bbox == (117.4, 30.6, 117.5, 30.7)
    assert study.services["grid"].label_zh == "grid"
    assert study.network.describe().startswith("bbox")


def test_study_repr_is_short(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("id,lon,lat\n1,117.49,30.66\n", encoding="utf-8")
    services = {f"service_{i}": {"stations": "s.csv"} for i in range(12)}
    study = study_from_dict(
        {"name": "贵池" * 60, "network": {"place": "池州"}, "services": services},
        base_dir=tmp_path,
    )
    text = repr(study)
    assert len(text) < 500, len(text)
    assert "service_0" in text and "(12 in all)" in text and "place '池州'" in text
    assert "compounds: from OSM" in text and "language='zh'" in text


# --------------------------------------------------------------------------------------------
# Chinese first: the study's language, layer keys where a planner writes them


def _problems(path: Path, **kwargs: str) -> StudyError:
    with pytest.raises(StudyError) as info:
        load_study(path, **kwargs)
    return info.value


def test_messages_follow_the_study_language(layers: Path) -> None:
    bad = GOOD.replace("minutes = [5, 10]", "minutes = [15, 10]")
    zh = _problems(write(layers, bad))
    text = str(zh)
    assert text.splitlines()[0].endswith("研究文件有 1 个问题 (the study file has problems):")
    message = zh.problems[0].message
    # Chinese first, the English in brackets after it
    assert message.startswith("阈值须严格递增，现为 [15, 10]；请从小到大填写")
    assert "(thresholds must be strictly increasing, got [15, 10]" in message
    en = _problems(write(layers, 'language = "en"\n' + bad))
    assert en.problems[0].message.startswith("thresholds must be strictly increasing")
    assert not any("\u4e00" <= c <= "\u9fff" for c in en.problems[0].message)
    assert str(en).splitlines()[0].endswith("the study file has problems:")
    # --lang zh wins over the file's language
    assert (
        _problems(write(layers, 'language = "en"\n' + bad), lang="zh")
        .problems[0]
        .message.startswith("阈值须严格递增")
    )
    # every message of a study with many problems is Chinese first
    many = bad.replace('stations = "party.csv"', 'station = "party.csv"').replace(
        "adult = 4.8", "adult = -1"
    )
    for p in _problems(write(layers, many)).problems:
        assert "\u4e00" <= p.message[0] <= "\u9fff", p.message


def test_layer_keys_in_the_service_table_apply_to_its_stations(layers: Path) -> None:
    text = GOOD.replace(
        'stations = "party.csv"',
        'stations = "party.csv"\ncoords = "gcj02"\nid_column = "站点编号"\nlon_column = "东经度"',
    )
    party = load_study(write(layers, text)).services["party_station"]
    assert party.stations.path == layers / "party.csv"
    assert (party.stations.coords, party.stations.coords_explicit) == ("gcj02", True)
    assert (party.stations.id_column, party.stations.lon_column) == ("站点编号", "东经度")
    # the same in the layer table: [services.x.stations]
    table = GOOD.replace(
        'stations = "party.csv"',
        '[services.party_station.stations]\npath = "party.csv"\ncoords = "gcj02"\n'
        'lat_column = "北纬度"',
    )
    # (TOML: the sub-table must follow the service's own keys; move it to the end)
    head, meal = table.split("[services.meal_point]")
    head, sub = head.split("[services.party_station.stations]")
    table = head + "[services.meal_point]" + meal + "[services.party_station.stations]" + sub
    party = load_study(write(layers, table)).services["party_station"]
    assert (party.stations.coords, party.stations.lat_column) == ("gcj02", "北纬度")
    # not set: the default, and not explicit (the column names may then decide)
    meal = load_study(write(layers, GOOD)).services["party_station"]
    assert (meal.stations.coords, meal.stations.coords_explicit) == ("wgs84", False)


@pytest.mark.parametrize(
    ("patch", "key", "fragments"),
    [
        (  # at the top: where does it go?
            ('note = "草案 draft"', 'note = "草案 draft"\ncoords = "gcj02"'),
            "coords",
            ["coords 是图层的键", "[services.<服务>.stations]", "belongs in a layer table"],
        ),
        (  # given twice
            ('coords = "gcj02" }', 'coords = "gcj02" }\ncoords = "bd09"'),
            "services.meal_point.coords",
            ["写了两次", "given twice"],
        ),
        (  # path instead of stations
            ('stations = "party.csv"', 'path = "party.csv"'),
            "services.party_station.path",
            ['stations = "party.csv"'],
        ),
        (  # a typo gets the closest key
            ('stations = "party.csv"', 'stations = "party.csv"\ncapacty = 300'),
            "services.party_station.capacty",
            ["是否应为 capacity", "did you mean capacity"],
        ),
    ],
)
def test_misplaced_keys_say_where_they_go(
    layers: Path, patch: tuple[str, str], key: str, fragments: list[str]
) -> None:
    old, new = patch
    assert old in GOOD
    err = _problems(write(layers, GOOD.replace(old, new)))
    got = {p.key: p.message for p in err.problems}
    assert key in got, got
    for fragment in fragments:
        assert fragment in got[key]


def test_readme_study_reference_shows_every_layer_table_and_loads(tmp_path: Path) -> None:
    import re
    import tomllib

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### 研究文件（study.toml）说明") :]
    block = re.search(r"```toml\n(.*?)```", section, re.S)
    assert block is not None
    data = tomllib.loads(block.group(1))
    for key in ("compounds", "candidates"):
        assert "coords" in data[key] and "path" in data[key]
    assert isinstance(data["services"]["grid_station"]["stations"], dict)  # the layer table
    assert "coords" in data["services"]["meal_point"]  # layer keys in the service table
    for name in ("compounds.xlsx", "stations_party.geojson", "助餐点.xlsx", "网格站.csv"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / "candidates.csv").write_text("x", encoding="utf-8")
    study = study_from_dict(data, base_dir=tmp_path)  # every key of the reference is known
    assert study.compounds is not None and study.compounds.lon_column == "东经"
    assert study.services["meal_point"].stations.coords == "gcj02"
    assert study.services["grid_station"].stations.coords == "bd09"
    assert study.services["grid_station"].stations.capacity_column == "服务户数上限"
    # the quick start is still two commands
    quick = readme[readme.index("### 快速开始") : readme.index("### 用于自己的城市")]
    commands = re.search(r"```bash\n(.*?)```", quick, re.S)
    assert commands is not None and len(commands.group(1).strip().splitlines()) == 2
