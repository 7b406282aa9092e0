"""Scenario files: YAML read, overridden from the command line and validated into a
``RunConfig``, with errors that name the file, the field and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scenarios.datasets import DATASET_KINDS
from simulator.config import RunConfig
from simulator.errors import ScenarioError


def shipped_scenarios() -> dict[str, Path]:
    """The scenario files installed with the package, by name."""
    return {p.stem: p for p in sorted(Path(__file__).resolve().parent.glob("*.yaml"))}


def load_scenario(source: str | Path, **overrides: Any) -> RunConfig:
    """Read a scenario by path or shipped name, apply overrides, validate.

    Raises:
        ScenarioError: One line naming the file, the field path and what is allowed.
    """
    path = Path(source)
    if not path.exists():
        shipped = shipped_scenarios()
        if str(source) not in shipped:
            raise ScenarioError(
                f"{source}: no such scenario file; shipped scenarios are "
                f"{', '.join(sorted(shipped))} (see `recworld scenarios`)"
            )
        path = shipped[str(source)]
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{path}: byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start} is not UTF-8; save the scenario as UTF-8"
        ) from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ScenarioError(f"{where}: not valid YAML ({problem})") from None
    if data is None or data == {}:  # empty (comments, `{}`) is a mistake, not "all defaults"
        raise ScenarioError(
            f"{path}: the scenario is empty; start from a shipped one "
            "(`recworld scenarios` lists them) and edit its fields"
        )
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{path}: a scenario is a YAML mapping of fields (`name: ...`, `steps: ...`), "
            f"got {type(data).__name__}; scenario files are YAML"
        )
    data.setdefault("name", path.stem)
    if overrides.get("llm.backend"):
        # A backend named on the command line brings its own model and options.
        llm = data.get("llm") if isinstance(data.get("llm"), dict) else {}
        data["llm"] = {k: v for k, v in llm.items() if k not in ("model", "options")}
    for key, value in overrides.items():
        if value is None:
            continue
        target = data
        *parents, leaf = key.split(".")
        for parent in parents:
            if not isinstance(target.get(parent), dict):
                target[parent] = {}
            target = target[parent]
        target[leaf] = value
    given = {k for k, v in overrides.items() if v is not None}
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        loc = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise ScenarioError(f"{_source(path, given, loc)}: {describe_error(exc)}") from None
    kind = config.dataset.kind
    if kind not in DATASET_KINDS:
        raise ScenarioError(
            f"{_source(path, given, 'dataset.kind')}: dataset.kind: unknown dataset kind "
            f"{kind!r}; choose one of {', '.join(DATASET_KINDS)} (got {kind!r})"
        )
    return config


def _source(path: Path, overrides: set[str], loc: str) -> str | Path:
    """Where a bad value came from: a value from the command line is the user's, not the
    file's, so say so."""
    if any(loc == k or loc.startswith(f"{k}.") for k in overrides):
        return "command-line override"
    return path


def describe_error(exc: ValidationError) -> str:
    """The first error as ``field.path: message (got VALUE)``."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(root)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field; check its spelling against the scenario reference in the README"
        return f"{loc}: {msg}"
    return f"{loc}: {msg} (got {err.get('input')!r})"
