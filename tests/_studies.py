"""Small studies on the shared OSM extracts, written into a test's folder."""

from __future__ import annotations

from pathlib import Path

OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
CAU = (OSM / "beijing-haidian-cau.osm.bz2").as_posix()


def cau_study(folder: Path, *, language: str | None = None) -> Path:
    """A two-service study on the CAU extract (compounds derived from OSM)."""
    (folder / "party.csv").write_text(
        "id,name,lon,lat\nP1,a,116.3525,40.0035\nP2,b,116.3468,40.0062\n", encoding="utf-8"
    )
    lang = f'language = "{language}"\n' if language else ""
    study = folder / "study.toml"
    study.write_text(
        f'name = "CAU"\n{lang}note = "test note"\n[network]\nosm_file = "{CAU}"\n'
        '[services.party]\nlabel_zh = "党群服务站"\nlabel_en = "Party station"\n'
        'stations = "party.csv"\n'
        '[services.meal]\nlabel_zh = "助餐点"\nstations = "party.csv"\nprofile = "elderly"\n'
        "minutes = [5, 10]\n",
        encoding="utf-8",
    )
    return study
