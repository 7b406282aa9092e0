"""solara's front end, fetched once from the npm registry into solara's own CDN cache.

solara's page loads Vuetify, require.js and Font Awesome from a CDN (jsDelivr) through its
own server, which keeps each file under ``sys.prefix/share/solara/cdn/``. A machine that
reaches the npm registry but not jsDelivr (CI here, many company networks) gets the same
packages with ``npm pack`` and unpacks them where solara looks, so the dashboard renders
offline. Which packages and versions: read from the page template of the solara that is
installed, so an upgrade of solara asks for its own.

    python -m simulator.dashboard.assets      # run by `make setup`; needs npm
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

_PACKAGE = re.compile(r"\{\{\s*cdn\s*\}\}/((?:@[\w.-]+/)?[\w.-]+@\d+\.\d+\.\d+)/")


def cache_dir() -> Path:
    """Where solara's server keeps the CDN files it has fetched."""
    return Path(sys.prefix) / "share" / "solara" / "cdn"


def wanted() -> list[str]:
    """The npm packages (``name@version``) that solara's page loads from its CDN."""
    import solara.server
    from solara.server import settings

    templates = Path(solara.server.__file__).parent / "templates"
    specs = set()
    for template in templates.glob("*.j2"):
        specs.update(_PACKAGE.findall(template.read_text()))
    fontawesome = re.match(
        r"/?((?:@[\w.-]+/)?[\w.-]+@\d+\.\d+\.\d+)/", settings.assets.fontawesome_path
    )
    if fontawesome:
        specs.add(fontawesome.group(1))
    return sorted(specs)


def fetch(specs: list[str] | None = None, *, into: Path | None = None) -> list[str]:
    """``npm pack`` each package not yet in the cache and unpack it there.

    Returns:
        The packages fetched now (those already cached are skipped).

    Raises:
        RuntimeError: npm is missing or a package could not be packed.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm is not installed; install Node.js, or let the dashboard reach jsDelivr"
        )
    target = into or cache_dir()
    fetched = []
    for spec in specs if specs is not None else wanted():
        folder = target / spec
        if folder.is_dir() and any(folder.iterdir()):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(
                [npm, "pack", spec, "--silent", "--pack-destination", tmp],
                capture_output=True,
                text=True,
                check=False,
            )
            archives = list(Path(tmp).glob("*.tgz"))
            if done.returncode != 0 or not archives:
                raise RuntimeError(f"npm pack {spec} failed: {done.stderr.strip()[:300]}")
            with tarfile.open(archives[0]) as archive:
                archive.extractall(Path(tmp) / "unpacked", filter="data")
            folder.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(Path(tmp) / "unpacked" / "package", folder, dirs_exist_ok=True)
        fetched.append(spec)
    return fetched


def main() -> int:
    try:
        fetched = fetch()
    except (RuntimeError, ImportError) as exc:
        print(f"dashboard front end not fetched: {exc}", file=sys.stderr)
        return 1
    print(f"dashboard front end in {cache_dir()}: {', '.join(fetched) or 'already there'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
