"""The dashboard's front end, fetched from the npm registry into solara's CDN cache."""

from __future__ import annotations

import os
import re
import stat
import textwrap

import pytest

from simulator.dashboard import assets


def test_the_packages_are_those_solaras_page_loads():
    pytest.importorskip("solara")
    specs = assets.wanted()
    assert specs, "solara's templates name no CDN package"
    for spec in specs:
        assert re.fullmatch(r"(@[\w.-]+/)?[\w.-]+@\d+\.\d+\.\d+", spec), spec
    names = {spec.rsplit("@", 1)[0] for spec in specs}
    assert {"requirejs", "font-awesome"} <= names


FAKE_NPM = textwrap.dedent(
    """\
    #!/usr/bin/env python3
    # A stand-in for `npm pack SPEC --silent --pack-destination DIR`: a tarball whose files
    # sit under package/, as npm's do; it logs each spec it packs.
    import io, os, sys, tarfile
    spec, dest = sys.argv[2], sys.argv[sys.argv.index("--pack-destination") + 1]
    with open(os.environ["FAKE_NPM_LOG"], "a") as log:
        log.write(spec + "\\n")
    with tarfile.open(os.path.join(dest, "pkg.tgz"), "w:gz") as tar:
        data = ("/* " + spec + " */").encode()
        info = tarfile.TarInfo("package/dist/main.js")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    """
)


def test_fetch_unpacks_each_package_where_solara_looks_and_skips_cached_ones(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM)
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "packed.txt"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    cache = tmp_path / "cdn"
    specs = ["requirejs@2.3.6", "@widgetti/solara-vuetify3-app@5.2.0"]
    assert assets.fetch(specs, into=cache) == specs
    for spec in specs:
        assert (cache / spec / "dist" / "main.js").read_text() == f"/* {spec} */"
    # A second fetch finds both in the cache and packs nothing.
    assert assets.fetch(specs, into=cache) == []
    assert log.read_text().split() == specs


def test_fetch_without_npm_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="npm is not installed"):
        assets.fetch(["requirejs@2.3.6"], into=tmp_path / "cdn")
