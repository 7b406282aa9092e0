"""docs/ARCHITECTURE.md stays true: every module it names exists, and its layer list is
the one ``lint-imports`` enforces."""

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text()


def test_every_path_the_page_names_exists():
    ours = ("simulator/", "agents/", "memory/", "scenarios/", "tests/", "docs/", "benchmarks/")
    paths = {p for p in re.findall(r"`([\w./-]+/[\w./-]*)`", DOC) if p.startswith(ours)}
    assert len(paths) > 30, "the page should name the modules it describes"
    missing = [p for p in sorted(paths) if not (ROOT / p).exists()]
    assert not missing, f"docs/ARCHITECTURE.md names paths that do not exist: {missing}"


def test_the_layers_on_the_page_are_the_enforced_ones():
    contracts = configparser.ConfigParser()
    contracts.read(ROOT / ".importlinter")
    enforced = [
        line.strip() for line in contracts["importlinter:contract:layers"]["layers"].splitlines()
    ]
    block = DOC.split("## Layers", 1)[1].split("```")[1]
    on_page = []
    for line in block.strip().splitlines():
        names = line.split("  ")[0].strip()  # the description follows after two spaces
        parts = [p.strip() for p in names.split("|")]
        first = parts[0]
        package = first.rsplit(".", 1)[0] if "." in first else ""
        on_page.append(" | ".join(p if not p.startswith(".") else package + p for p in parts))
    assert on_page == [e for e in enforced if e]


def test_every_layer_module_exists():
    contracts = configparser.ConfigParser()
    contracts.read(ROOT / ".importlinter")
    for section in contracts.sections():
        for line in contracts[section].get("layers", "").split():
            if line == "|":
                continue
            path = ROOT / line.replace(".", "/")
            assert path.is_dir() or path.with_suffix(".py").exists(), line
