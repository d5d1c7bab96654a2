"""The batch file (``BATCH.toml``): a template study split by an areas layer, or one study
per area (see :mod:`coverage.batch` for how a batch runs).

A template batch::

    name = "安徽省 15分钟便民服务圈（按区县）"
    study = "anhui/study.toml"      # an ordinary study over the whole region
    steps = []                      # per-area steps after the analysis (AREA_STEPS)
    [areas]
    path = "anhui/counties.gpkg"    # any polygon layer inputs.read_layer reads
    name_column = "name"            # default: name / 名称 / 区县
    # layer, encoding, coords as for other layers

A batch of studies::

    [[area]]
    name = "贵池区"
    study = "guichi/study.toml"
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from coverage.config import LayerSpec, Study, load_study
from coverage.errors import InputError, Problem, StudyError

__all__ = ["AREA_STEPS", "Batch", "BatchArea", "BrokenArea", "load_batch"]

log = logging.getLogger(__name__)

#: Per-area steps a batch file may ask for (``steps = [...]``), as ``"module:function"``.
#: The function is called on the worker after the area's analysis as
#: ``func(study=..., network=..., inputs=..., analysis=..., out_dir=...)`` and returns the
#: paths it wrote. A step whose module is not part of this version is refused when the batch
#: file is loaded.
AREA_STEPS: dict[str, str] = {
    "isochrones": "coverage.isochrones:batch_step",
    "report": "coverage.report:batch_step",
}

_NAME_COLUMNS = ("name", "名称", "区县", "NAME", "Name")
_BATCH_KEYS = {"name", "study", "areas", "area", "steps", "note"}
_AREAS_KEYS = {"path", "layer", "name_column", "encoding", "coords"}
_AREA_KEYS = {"name", "study"}

# --------------------------------------------------------------------------------------------
# the batch file


@dataclass(frozen=True)
class BatchArea:
    """One area of a batch.

    Attributes
    ----------
    name
        The area's name (unique within the batch).
    geometry
        Its (Multi)Polygon in WGS-84 (template batches).
    study
        Its own study (batches listing one study per area).
    """

    name: str
    geometry: BaseGeometry | None = None
    study: Study | None = None


@dataclass(frozen=True)
class Batch:
    """A batch: one template study split by an areas layer, or one study per area.

    Attributes
    ----------
    name
        Shown in outputs.
    areas
        The areas, in the file's order.
    study
        The template study (``None`` when every area has its own study).
    path
        The batch file.
    steps
        Per-area steps after the analysis (keys of :data:`AREA_STEPS`).
    note
        A remark carried into ``summary.json``.
    """

    name: str
    areas: tuple[BatchArea, ...]
    study: Study | None = None
    path: Path | None = None
    steps: tuple[str, ...] = ()
    note: str | None = None


def load_batch(path: str | Path) -> Batch:
    """Read and check a batch file and its areas layer (or its per-area studies).

    Parameters
    ----------
    path
        The ``BATCH.toml`` file. Relative paths in it are relative to its folder.

    Returns
    -------
    Batch

    Raises
    ------
    StudyError
        Listing every problem of the batch file: unknown keys, a missing study or areas
        layer, both or neither of ``areas`` and ``[[area]]``, unknown steps.
    InputError
        The areas layer cannot be read, has no name column, a name is empty or repeated, a
        geometry is not a polygon, or is invalid or empty (each problem names the row).
    """
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise StudyError(Problem(src, "找不到批处理文件 (batch file not found); check the path"))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StudyError(
            Problem(src, f"不是有效的 UTF-8 TOML (not valid UTF-8 TOML): {exc}")
        ) from None
    base = path.parent
    problems = [
        Problem(src, f"未知的键 (unknown key); allowed: {', '.join(sorted(_BATCH_KEYS))}", key=k)
        for k in data
        if k not in _BATCH_KEYS
    ]
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem(src, "应为非空文本 (expected non-empty text)", key="name"))
        name = path.stem
    steps = data.get("steps", [])
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        problems.append(Problem(src, "应为文本列表 (expected a list of names)", key="steps"))
        steps = []
    for i, step in enumerate(steps):
        problems += _check_step(step, src, f"steps[{i}]")
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        problems.append(Problem(src, "应为文本 (expected text)", key="note"))
        note = None
    has_layer, has_list = "areas" in data, "area" in data
    if has_layer == has_list:
        problems.append(
            Problem(
                src,
                "需要 [areas] 图层（配合 study 模板）或 [[area]] 列表二者之一 (give either an "
                "[areas] layer with a template `study`, or a list of [[area]] studies)",
            )
        )
    if problems:
        raise StudyError(problems, header=f"{src}: 批处理文件有问题 (the batch file has problems):")
    if has_layer:
        study_file = data.get("study")
        if not isinstance(study_file, str):
            raise StudyError(
                Problem(src, "模板研究文件路径 (the template study file)", key="study")
            )
        study = load_study(base / study_file)
        areas = _areas_from_layer(data["areas"], base, src)
        return Batch(name.strip(), areas, study, path, tuple(steps), note)
    if "study" in data:
        raise StudyError(
            Problem(src, "[[area]] 列表中每个区域有自己的 study，不能再给模板", key="study")
        )
    return Batch(
        name.strip(), _areas_from_list(data["area"], base, src), None, path, tuple(steps), note
    )


def _check_step(step: str, src: str, key: str) -> list[Problem]:
    target = AREA_STEPS.get(step)
    if target is None:
        return [Problem(src, f"未知步骤 (unknown step); known: {', '.join(AREA_STEPS)}", key=key)]
    module, func = target.split(":", 1)
    if importlib.util.find_spec(module) is None or not callable(
        getattr(importlib.import_module(module), func, None)
    ):
        return [
            Problem(
                src,
                f"此版本没有 {target}，无法运行该步骤 (this version has no {target}; remove the "
                "step or upgrade coverage-planner)",
                key=key,
            )
        ]
    return []


def _areas_from_list(items: Any, base: Path, src: str) -> tuple[BatchArea, ...]:
    problems: list[Problem] = []
    areas: list[BatchArea] = []
    if not isinstance(items, list) or not items:
        raise StudyError(
            Problem(src, "应为非空的 [[area]] 列表 (expected [[area]] tables)", key="area")
        )
    for i, item in enumerate(items):
        key = f"area[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem(src, "应为表 (expected a table)", key=key))
            continue
        problems += [
            Problem(src, "未知的键 (unknown key); allowed: name, study", key=f"{key}.{k}")
            for k in item
            if k not in _AREA_KEYS
        ]
        name, study_file = item.get("name"), item.get("study")
        if not isinstance(name, str) or not name.strip():
            problems.append(
                Problem(src, "应为非空文本 (expected non-empty text)", key=f"{key}.name")
            )
            continue
        if not isinstance(study_file, str):
            problems.append(Problem(src, "研究文件路径 (a study file)", key=f"{key}.study"))
            continue
        try:
            areas.append(BatchArea(name.strip(), study=load_study(base / study_file)))
        except StudyError as exc:
            # a broken study fails its own area, not the batch: it is reported there
            areas.append(BrokenArea(name.strip(), error=str(exc)))
    problems += _duplicate_names([a.name for a in areas], src, key="area")
    problems += _same_services(areas, src)
    if problems:
        raise StudyError(problems, header=f"{src}: 批处理文件有问题 (the batch file has problems):")
    return tuple(areas)


def _same_services(areas: Sequence[BatchArea], src: str) -> list[Problem]:
    """The studies of a batch must share service keys and thresholds (outputs are combined)."""
    studies = [(i, a.study) for i, a in enumerate(areas) if a.study is not None]
    if not studies:
        return []
    first = {k: s.minutes for k, s in studies[0][1].services.items()}
    return [
        Problem(
            src,
            "各区域研究的服务类型和阈值须相同 (every area's study must have the same services "
            f"and thresholds as the first: {first})",
            key=f"area[{i}].study",
        )
        for i, study in studies[1:]
        if {k: s.minutes for k, s in study.services.items()} != first
    ]


@dataclass(frozen=True)
class BrokenArea(BatchArea):
    """An area of a per-area batch whose study file could not be read (it fails alone).

    Attributes
    ----------
    error
        The study file's problems.
    """

    error: str = ""


def _duplicate_names(
    names: Sequence[str],
    src: str,
    *,
    key: str | None = None,
    column: str | None = None,
    unit: str = "row",
) -> list[Problem]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        if name in seen:
            out.append(
                Problem(
                    src,
                    f"区域名称重复 (area name {name!r} repeats {unit} {seen[name] + 1}); "
                    "names must be unique",
                    row=i + 1 if column else None,
                    column=column,
                    key=key,
                    unit=unit,
                )
            )
        else:
            seen[name] = i
    return out


def _areas_from_layer(spec_data: Any, base: Path, src: str) -> tuple[BatchArea, ...]:
    from coverage import inputs

    if isinstance(spec_data, str):
        spec_data = {"path": spec_data}
    if not isinstance(spec_data, dict) or not isinstance(spec_data.get("path"), str):
        raise StudyError(
            Problem(src, '需要图层文件路径 (expected path = "areas.geojson")', key="areas.path")
        )
    unknown = [k for k in spec_data if k not in _AREAS_KEYS]
    if unknown:
        raise StudyError(
            [
                Problem(
                    src,
                    f"未知的键 (unknown key); allowed: {', '.join(sorted(_AREAS_KEYS))}",
                    key=f"areas.{k}",
                )
                for k in unknown
            ]
        )
    file = (base / spec_data["path"]).resolve()
    spec = LayerSpec(
        path=file,
        layer=spec_data.get("layer"),
        encoding=spec_data.get("encoding"),
        coords=spec_data.get("coords", "wgs84"),
    )
    layer = inputs.read_layer(spec, role="layer")
    where = str(file)
    column = spec_data.get("name_column")
    if column is None:
        column = next((c for c in _NAME_COLUMNS if c in layer.columns), None)
    if column is None or column not in layer.columns:
        raise InputError(
            Problem(
                where,
                f"区域图层缺少名称列 (the areas layer has no name column {column or 'name'!r}); "
                f"columns: {', '.join(map(str, layer.columns.drop('geometry')))}; set "
                "areas.name_column in the batch file",
            )
        )
    problems: list[Problem] = []
    # an areas layer is a geo file: its rows are features, counted from 1
    unit = "feature"
    names = [str(v).strip() if v is not None and not pd.isna(v) else "" for v in layer[column]]
    types = shapely.get_type_id(np.asarray(layer.geometry.values, dtype=object))
    for i, (nm, tp) in enumerate(zip(names, types, strict=True)):
        if not nm:
            problems.append(
                Problem(
                    where,
                    "区域名称为空 (the area has no name)",
                    row=i + 1,
                    column=column,
                    unit=unit,
                )
            )
        if tp not in (3, 6):
            problems.append(
                Problem(
                    where,
                    "区域应为面 (an area must be a Polygon or MultiPolygon), got "
                    f"{layer.geometry.iloc[i].geom_type if tp >= 0 else 'nothing'}",
                    row=i + 1,
                    column="geometry",
                    record=nm or None,
                    unit=unit,
                )
            )
    problems += _duplicate_names(names, where, column=column, unit=unit)
    if problems:
        raise InputError(
            problems,
            header=f"{where}: 区域图层有 {len(problems)} 个问题 "
            f"({len(problems)} problem(s) in the areas layer):",
        )
    return tuple(
        BatchArea(nm, geometry=geom)
        for nm, geom in zip(names, layer.geometry.to_numpy(), strict=True)
    )
