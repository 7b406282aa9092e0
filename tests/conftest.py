"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",  # this machine's closed network refuses them
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def chromium() -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright (its own browser download needs a
    network this machine lacks); skips when either is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (CI installs it with apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The licensed datasets, read in place (never copied into the repo).

    ``$RECWORLD_DATA`` (first existing entry) wins, else ``../shared/data`` next to the repo.
    """
    env = [Path(p) for p in os.environ.get("RECWORLD_DATA", "").split(os.pathsep) if p]
    for candidate in [*env, REPO_ROOT.parent / "shared" / "data"]:
        if candidate.is_dir():
            return candidate
    pytest.skip("../shared/data not found; set RECWORLD_DATA")


def _write_ml100k(folder: Path, u_data: bytes | str) -> Path:
    """A two-film, two-user ml-100k folder with the given ``u.data`` (bad input tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.genre").write_text("a|0\nb|1\n")
    (folder / "u.item").write_text("1|A (1995)|01-Jan-1995||x|0|1\n2|B|||x|1|0\n")
    (folder / "u.user").write_text("1|30|M|other|0\n2|30|F|other|0\n")
    data = u_data.encode() if isinstance(u_data, str) else u_data
    (folder / "u.data").write_bytes(data)
    return folder


@pytest.fixture
def tiny_ml100k():
    """``tiny_ml100k(folder, u_data)`` writes a minimal ml-100k folder and returns it."""
    return _write_ml100k


def _start_chroma_server(path: Path, port: int | None = None):
    """A real Chroma server on 127.0.0.1 over ``path``: ``(process, port)``; the test
    stops it. Skips when the ``chroma`` command is missing or does not start."""
    import shutil
    import socket
    import subprocess
    import sys
    import time

    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if not Path(exe).exists():
        pytest.skip("the chroma command is not installed")
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    proc = subprocess.Popen(
        [exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.2)
    proc.kill()
    pytest.skip("the chroma server did not start within 30 s")


@pytest.fixture(scope="session")
def start_chroma_server():
    """``start_chroma_server(path, port=None) -> (process, port)``."""
    return _start_chroma_server


@pytest.fixture
def ten_point(tmp_path: Path) -> Path:
    """A CSV dataset rated 1-10: twelve users rate the first six of 30 films, and user a
    rated the dramas 9 and 10, the comedies 5 and 6 (middling: "liked" on a 1-5 reading)
    and the westerns 2 and 3."""
    folder = tmp_path / "ten-point"
    folder.mkdir()
    genres = ["Drama", "Drama", "Comedy", "Comedy", "Western", "Western"] * 5
    (folder / "items.csv").write_text(
        "item_id,title,genres\n" + "".join(f"i{k},{g} film {k},{g}\n" for k, g in enumerate(genres))
    )
    rows = [("a", f"i{k}", r, k) for k, r in enumerate([9, 10, 5, 6, 2, 3])]
    rows += [(f"u{n}", f"i{k}", 1 + (n + k) % 10, k) for n in range(12) for k in range(6)]
    (folder / "interactions.csv").write_text(
        "user_id,item_id,rating,timestamp\n" + "".join(f"{u},{i},{r},{t}\n" for u, i, r, t in rows)
    )
    return folder
