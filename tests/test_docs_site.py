"""The docs site: generated files are fresh, and the built site really draws its diagrams.

The browser tests need a built site: ``.ci/run`` builds it and sets ``ESCALATION_DOCS_HTML``.
Locally::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    ESCALATION_DOCS_HTML=docs/_build/html python -m pytest tests/test_docs_site.py
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest

from escalation_fsm import GuardSpec, StageSpec, default_spec
from escalation_fsm.diagrams.table import markdown_text, stages_table, transitions_table
from escalation_fsm.policy import Decision

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))  # the docs tooling lives with the docs, not in the package

from regenerate import GENERATED_DIR, artifacts, main, stale  # noqa: E402

# -- generated files ---------------------------------------------------------------------------

def test_committed_generated_files_match_the_code() -> None:
    """docs/_generated/ is exactly what the code renders now (else: run the regenerate command)."""
    assert stale(DOCS) == [], "run: python docs/regenerate.py"


def test_regenerate_check_detects_missing_and_edited_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--check fails on a missing or hand-edited file, and the plain command repairs it."""
    assert main(["--docs", str(tmp_path), "--check"]) == 1
    assert "stale:" in capsys.readouterr().err
    assert main(["--docs", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("updated") == len(artifacts())
    assert main(["--docs", str(tmp_path), "--check"]) == 0

    table = tmp_path / GENERATED_DIR / "transitions.md"
    table.write_text(table.read_text().replace("`resolved`", "`closed`", 1))
    assert main(["--docs", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "transitions.md" in err
    assert "python docs/regenerate.py" in err
    assert main(["--docs", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("transitions.md")  # only that one changed
    assert stale(tmp_path) == []


def test_regenerate_needs_a_docs_folder(tmp_path: Path) -> None:
    """Run from the wrong folder, the command says so (usage error) instead of creating docs/."""
    with pytest.raises(SystemExit) as exited:
        main(["--docs", str(tmp_path / "nope")])
    assert exited.value.code == 2


def test_every_generated_file_says_how_to_regenerate_it() -> None:
    """Each generated file starts with a comment naming the command, in its own syntax."""
    for name, text in artifacts().items():
        first = text.splitlines()[0]
        assert "python docs/regenerate.py" in first, name
        assert first.startswith(("%% ", "// ", "% ")), name


def test_transition_table_lists_every_transition_with_guard_sentences() -> None:
    """One row per transition, each guard with its sentence, roles sorted."""
    table = transitions_table(default_spec())
    assert table.count("\n* - `") == len(default_spec().transitions)
    assert "    - `has_summary`: a Tier 2 summary is given" in table
    assert "  - `escalated` (stays)" in table
    assert "  - `agent`, `supervisor`, `system`, `tier2`" in table


HOSTILE = "- *bold* `code` [link](http://x) <b>html</b> | {role}`x` %comment $math$ \\ & &amp;"


def test_markdown_text_makes_markup_inert() -> None:
    """Escaped text has every markup character backslash-escaped, and a leading block marker."""
    escaped = markdown_text(HOSTILE + "\nsecond line")
    assert "\n" not in escaped
    unescaped_rest = re.sub(r"\\.", "", escaped)  # drop every backslash-escaped character
    assert not set("*`[]<>|{}$&\\") & set(unescaped_rest)
    assert escaped.startswith("\\-")
    assert markdown_text("1. first") == "1\\. first"
    assert markdown_text("(target)=") == "\\(target)="


def test_hostile_descriptions_render_as_plain_text_in_myst() -> None:
    """Rendered by MyST's Markdown parser, hostile descriptions produce no markup at all."""
    markdown_it = pytest.importorskip("markdown_it")
    spec = default_spec().extend(
        stages=[StageSpec(name="feedback", description=HOSTILE, final=True)],
        guards=[GuardSpec(name="has_solution", requirement=HOSTILE,
                          check=lambda _ctx: Decision.yes(), uses_payload=True)],
    )
    parser = markdown_it.MarkdownIt("commonmark")
    cell = markdown_text(HOSTILE)
    html = parser.render(cell)
    assert html.startswith("<p>- *bold* `code` [link](http://x) &lt;b&gt;html&lt;/b&gt;")
    assert "<em>" not in html
    assert "<code>" not in html
    assert "<a " not in html
    assert cell in stages_table(spec)
    assert cell in transitions_table(spec)


# -- the built site in a real browser ------------------------------------------------------------

def _built_site() -> Path:
    site = os.environ.get("ESCALATION_DOCS_HTML")
    if not site:
        if os.environ.get("CI"):
            pytest.fail("CI must build the site and set ESCALATION_DOCS_HTML (see .ci/run)")
        pytest.skip("no built site: set ESCALATION_DOCS_HTML (see this module's docstring)")
    path = Path(site).resolve()
    assert (path / "procedure.html").is_file(), f"{path} is not a built site"
    return path


def _chromium() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Chromium (Debian package `chromium`, see .ci/run)")
        pytest.skip("Chromium is not installed")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (which downloads no browser of its own)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    # ES modules are refused unless served with a JavaScript MIME type.
    extensions_map: ClassVar[dict[str, str]] = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript", ".svg": "image/svg+xml"}

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass


def _serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _texts(node: dict[str, Any]) -> Iterator[str]:
    if node.get("nodeType") == 3:
        yield node.get("nodeValue", "")
    for key in ("children", "shadowRoots", "pseudoElements"):
        for child in node.get(key, ()):
            yield from _texts(child)
    if "contentDocument" in node:
        yield from _texts(node["contentDocument"])


def _attributes(node: dict[str, Any]) -> dict[str, str]:
    values = node.get("attributes", [])
    return dict(zip(values[::2], values[1::2], strict=True))


def _mermaid_svgs(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every SVG that Mermaid rendered, open or closed shadow roots and frames included."""
    if node.get("localName") == "svg" and _attributes(node).get(
            "aria-roledescription", "").startswith("stateDiagram"):
        yield node
    for key in ("children", "shadowRoots"):
        for child in node.get(key, ()):
            yield from _mermaid_svgs(child)
    if "contentDocument" in node:
        yield from _mermaid_svgs(node["contentDocument"])


def check_page(browser: Any, site: Path, page_name: str, *, screenshot: Path | None = None,
               timeout: float = 20.0) -> set[str]:
    """Open ``page_name`` from ``site`` served on localhost; return the rendered Mermaid text.

    Fails when no Mermaid SVG holding every stage name appears within ``timeout``, or when the
    page requested anything outside localhost (such requests are aborted, never sent).
    """
    server, base = _serve(site)
    outside: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 2400})

    def guard(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in ("127.0.0.1", "localhost") or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    try:
        context.route("**/*", guard)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/{page_name}", wait_until="load")
        cdp = context.new_cdp_session(page)
        stages = set(default_spec().stage_names)
        texts: set[str] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # pierce=True walks closed shadow roots and frames too, which page scripts cannot.
            root = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
            texts = {t.strip() for svg in _mermaid_svgs(root) for t in _texts(svg)}
            if stages <= texts:
                break
            page.wait_for_timeout(250)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        assert not outside, f"the page requested outside localhost: {outside}"
        assert stages <= texts, (
            f"no rendered Mermaid SVG with every stage on {page_name}: missing "
            f"{sorted(stages - texts)}; page errors: {errors}"
        )
        return texts
    finally:
        context.close()
        server.shutdown()
        server.server_close()


def test_procedure_page_renders_mermaid_offline(browser: Any) -> None:
    """Mermaid, served by the site itself, draws every stage; a screenshot is kept for people."""
    site = _built_site()
    shot = site.parent / "browser" / "procedure.png"
    texts = check_page(browser, site, "procedure.html", screenshot=shot)
    assert {"escalate", "notify_customer"} <= texts  # labels come from the generated diagram
    assert shot.stat().st_size > 10_000


def test_browser_check_fails_when_the_mermaid_script_is_missing(browser: Any, tmp_path: Path) -> None:
    """The same check on a copy of the site without Mermaid's script fails: it is not vacuous."""
    copy = tmp_path / "site"
    shutil.copytree(_built_site(), copy)
    shutil.rmtree(copy / "_static" / "mermaid")
    with pytest.raises(AssertionError, match="no rendered Mermaid SVG"):
        check_page(browser, copy, "procedure.html", timeout=3)


def test_browser_check_fails_on_a_request_outside_localhost(browser: Any, tmp_path: Path) -> None:
    """A page that loads anything from elsewhere fails (the request is aborted, never sent)."""
    copy = tmp_path / "site"
    shutil.copytree(_built_site(), copy)
    page = copy / "procedure.html"
    page.write_text(page.read_text().replace(
        "</head>", '<script src="https://cdn.example.invalid/mermaid.min.js"></script></head>', 1))
    with pytest.raises(AssertionError, match="outside localhost"):
        check_page(browser, copy, "procedure.html", timeout=10)


def test_built_site_references_no_cdn() -> None:
    """No page or script of the built site points at a CDN (every page, not just the one opened)."""
    site = _built_site()
    hits = [
        str(path.relative_to(site)) for path in site.rglob("*")
        if path.suffix in {".html", ".js", ".mjs", ".css"}
        and re.search(r"cdn\.jsdelivr|unpkg\.com|cdnjs|googleapis", path.read_text(errors="replace"))
    ]
    assert hits == []
    assert (site / "_static" / "mermaid" / "mermaid.esm.min.mjs").is_file()


# -- the extension that serves Mermaid locally -------------------------------------------------

@pytest.fixture
def local_mermaid(monkeypatch: pytest.MonkeyPatch) -> Any:
    """docs/_ext/local_mermaid.py, imported as Sphinx imports it."""
    pytest.importorskip("sphinx")
    monkeypatch.syspath_prepend(str(DOCS / "_ext"))
    import local_mermaid as module  # type: ignore[import-not-found]

    return module


def test_mermaid_tarball_with_the_wrong_hash_is_refused(local_mermaid: Any, tmp_path: Path) -> None:
    """A tarball whose sha512 differs from the pin in conf.py stops the build."""
    from sphinx.errors import ConfigError

    tarball = tmp_path / "mermaid-0.0.0.tgz"
    tarball.write_bytes(b"not the pinned release")
    with pytest.raises(ConfigError, match=r"conf\.py pins"):
        local_mermaid._verify(tarball, "sha512-AAAA")
    digest = "sha512-" + base64.b64encode(hashlib.sha512(b"not the pinned release").digest()).decode()
    local_mermaid._verify(tarball, digest)  # the right hash passes


def test_mermaid_from_a_local_dist_folder(local_mermaid: Any, tmp_path: Path) -> None:
    """ESCALATION_MERMAID_DIST copies the entry module and its chunks, without source maps."""
    from sphinx.errors import ConfigError

    dist = tmp_path / "dist"
    (dist / local_mermaid.CHUNKS).mkdir(parents=True)
    (dist / local_mermaid.ENTRY).write_text("export default {}")
    (dist / local_mermaid.CHUNKS / "chunk-A.mjs").write_text("export const a = 1")
    (dist / local_mermaid.CHUNKS / "chunk-A.mjs.map").write_text("{}")
    target = tmp_path / "static" / "mermaid"
    local_mermaid._from_dist(dist, target)
    assert sorted(p.name for p in target.rglob("*") if p.is_file()) == ["chunk-A.mjs",
                                                                        local_mermaid.ENTRY]
    with pytest.raises(ConfigError, match="has no"):
        local_mermaid._from_dist(tmp_path / "empty", target)
