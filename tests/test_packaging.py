"""`pip install -e .` stays quiet: the build backend warns about nothing in our layout."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_an_editable_build_prints_no_warning_box(tmp_path: Path):
    setuptools = pytest.importorskip("setuptools")
    # What pip runs inside its build environment, with this environment's setuptools.
    script = (
        "import warnings; warnings.simplefilter('default')\n"
        "from setuptools import build_meta\n"
        f"print(build_meta.build_editable({str(tmp_path)!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "!!" not in done.stderr, f"setuptools {setuptools.__version__} warned:\n{done.stderr}"
    assert (tmp_path / done.stdout.split()[-1]).is_file()
