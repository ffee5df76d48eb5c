"""Serve Mermaid from the site itself: no CDN at build time or when a reader opens a page.

sphinxcontrib-mermaid loads Mermaid from a CDN unless ``mermaid_use_local`` names a file under
``html_static_path``. This extension puts one there: Mermaid's ES-module build, at the version
and sha512 pinned in ``conf.py``, fetched once from the npm registry with ``npm pack`` (the
registry is reachable from CI; a CDN is not) and cached under ``docs/_build/_mermaid/``.

Why fetch rather than commit it: the build is ~2.8 MB of minified third-party JavaScript in ~150
files; pinning version and hash gives the same reproducibility without putting that into git.
To build with no network at all, point ``ESCALATION_MERMAID_DIST`` at a ``dist/`` folder of
the same Mermaid release (for example from a ``npm pack`` done elsewhere).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sphinx.errors import ConfigError

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.config import Config

ENTRY = "mermaid.esm.min.mjs"
CHUNKS = "chunks/mermaid.esm.min"


def _verify(tarball: Path, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        raise ConfigError(f"{tarball.name}: {algorithm} is {digest}, conf.py pins {expected}")


def _fetch(version: str, integrity: str, target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigError(
            "the docs serve Mermaid locally and fetch it with npm, which is not installed "
            "(Debian: apt-get install npm), or set ESCALATION_MERMAID_DIST to a Mermaid dist/ folder"
        )
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(  # noqa: S603 (fixed arguments; the version comes from conf.py)
            [npm, "pack", f"mermaid@{version}", "--pack-destination", tmp, "--silent"],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            raise ConfigError(f"npm pack mermaid@{version} failed: {done.stderr.strip()}")
        tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
        _verify(tarball, integrity)
        staging = Path(tmp) / "mermaid"
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                name = member.name.removeprefix("package/")
                wanted = name in (f"dist/{ENTRY}", "LICENSE") or (
                    name.startswith(f"dist/{CHUNKS}/") and name.endswith(".mjs"))
                if member.isfile() and wanted:
                    out = staging / name.removeprefix("dist/")
                    out.parent.mkdir(parents=True, exist_ok=True)
                    source = archive.extractfile(member)
                    assert source is not None  # noqa: S101 (isfile() guarantees a file object)
                    out.write_bytes(source.read())
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(staging, target)


def _from_dist(dist: Path, target: Path) -> None:
    if not (dist / ENTRY).is_file():
        raise ConfigError(f"ESCALATION_MERMAID_DIST={dist} has no {ENTRY}")
    shutil.rmtree(target, ignore_errors=True)
    (target / CHUNKS).mkdir(parents=True)
    shutil.copy2(dist / ENTRY, target / ENTRY)
    for chunk in (dist / CHUNKS).glob("*.mjs"):
        shutil.copy2(chunk, target / CHUNKS / chunk.name)


def provide_mermaid(app: Sphinx, config: Config) -> None:
    """Make ``_static/mermaid/`` hold the pinned Mermaid and point sphinxcontrib-mermaid at it."""
    version: str = config.local_mermaid_version
    # Outside the output folder, so `sphinx-build -E` or a clean html/ does not refetch it; a
    # folder of its own, because html_static_path copies the folder's contents into _static/.
    static_root = Path(app.outdir).parent / "_mermaid" / version
    target = static_root / "mermaid"
    if not (target / ENTRY).is_file():
        dist = os.environ.get("ESCALATION_MERMAID_DIST")
        if dist:
            _from_dist(Path(dist), target)
        else:
            _fetch(version, config.local_mermaid_integrity, target)
    config.html_static_path = [*config.html_static_path, str(static_root)]
    config.mermaid_use_local = f"mermaid/{ENTRY}"
    config.mermaid_version = ""  # never build a CDN address, even as a fallback


def setup(app: Sphinx) -> dict[str, object]:
    """Sphinx entry point."""
    app.add_config_value("local_mermaid_version", "", "html", types=[str])
    app.add_config_value("local_mermaid_integrity", "", "html", types=[str])
    # After conf.py and sphinxcontrib-mermaid's own defaults are in place.
    app.connect("config-inited", provide_mermaid, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
