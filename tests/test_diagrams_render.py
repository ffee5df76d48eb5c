"""Images through Graphviz, the missing-dependency errors, and the ``diagram`` CLI command."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest
from test_diagrams import HOSTILE, hostile_spec

from escalation_fsm import EscalationError, default_spec
from escalation_fsm.cli import main
from escalation_fsm.diagrams import GraphvizUnavailable, render, to_dot, to_mermaid
from escalation_fsm.errors import RenderFailed
from escalation_fsm.loader import load_spec

SVG = "{http://www.w3.org/2000/svg}"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"


@pytest.fixture
def dot_program() -> str:
    """The path of Graphviz's dot; CI installs it, so there it must not be skipped."""
    found = shutil.which("dot")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz `dot` is missing in CI: .ci/run installs it")
        pytest.skip("Graphviz `dot` is not installed")
    return found


@pytest.fixture
def no_dot_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with no Graphviz on it (an empty folder), as on a machine without it."""
    monkeypatch.setenv("PATH", str(tmp_path))


@pytest.mark.usefixtures("dot_program")
def test_svg_of_the_default_procedure_shows_every_stage_and_trigger() -> None:
    """The SVG is well-formed XML with one node per stage (plus start) and every trigger."""
    svg = render(default_spec(), "svg", show_guards=True)
    assert isinstance(svg, str)
    root = ElementTree.fromstring(svg)  # noqa: S314 (our own Graphviz output)
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert len(nodes) == len(default_spec().stages) + 1
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert set(default_spec().stage_names) <= texts
    assert set(default_spec().trigger_names) <= texts
    assert "if has_steps, has_summary, escalation_warranted" in texts


@pytest.mark.usefixtures("dot_program")
def test_hostile_text_in_svg_is_text_not_markup() -> None:
    """Graphviz shows hostile descriptions verbatim as tooltips and creates no script element."""
    svg = render(hostile_spec(), "svg")
    assert isinstance(svg, str)
    root = ElementTree.fromstring(svg)  # noqa: S314 (well-formed: nothing broke out of an attribute)
    assert not list(root.iter(f"{SVG}script"))
    titles = [a.get(XLINK_TITLE) for a in root.iter(f"{SVG}a")]
    # Tooltips show backslashes as a look-alike (Graphviz would expand "\N" there).
    expected = HOSTILE.replace("\\", "\uff3c")
    assert expected.split("\n") in [(t or "").split("\n") for t in titles]
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    edges = [g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]
    assert len(nodes) == len(hostile_spec().stages) + 1
    assert len(edges) == to_dot(hostile_spec()).count(" -> ")


@pytest.mark.usefixtures("dot_program")
def test_png_is_a_png() -> None:
    """PNG comes back as bytes with the PNG signature."""
    png = render(default_spec(), "png")
    assert isinstance(png, bytes)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.usefixtures("no_dot_on_path")
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_missing_dot_program_says_what_to_install(fmt: str) -> None:
    """Without dot on PATH: a clear error naming Graphviz, and no fallback to another format."""
    with pytest.raises(GraphvizUnavailable) as caught:
        render(default_spec(), fmt)  # type: ignore[call-overload]
    error = caught.value
    assert error.missing == "program"
    assert error.format == fmt
    assert "apt-get install graphviz" in str(error)
    assert "brew install graphviz" in str(error)
    assert isinstance(error, EscalationError)
    assert isinstance(error, RuntimeError)


@pytest.mark.usefixtures("no_dot_on_path")
def test_text_formats_need_no_graphviz() -> None:
    """Mermaid and DOT text work without Graphviz."""
    assert render(default_spec(), "mermaid") == to_mermaid(default_spec())
    assert render(default_spec(), "dot") == to_dot(default_spec())


def test_missing_python_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the optional graphviz package: an error naming the svg extra."""
    monkeypatch.setitem(sys.modules, "graphviz", None)  # makes `import graphviz` fail
    with pytest.raises(GraphvizUnavailable, match=r"pip install 'escalation-fsm\[svg\]'") as caught:
        render(default_spec(), "svg")
    assert caught.value.missing == "package"


def test_graphviz_failure_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A dot that exits non-zero raises with its stderr instead of returning an empty image."""
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Error: syntax error in line 1' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RenderFailed, match="syntax error in line 1") as caught:
        render(default_spec(), "svg")
    assert isinstance(caught.value, RuntimeError) and caught.value.format == "svg"


# -- the CLI -----------------------------------------------------------------------------------

def test_cli_prints_mermaid_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    """``escalation-fsm diagram`` prints the default procedure as Mermaid."""
    assert main(["diagram"]) == 0
    assert capsys.readouterr().out == to_mermaid(default_spec())


def test_cli_dot_with_guards_and_roles_to_a_file(tmp_path: Path) -> None:
    """``--format dot --guards --roles -o FILE`` writes the labelled DOT source."""
    out = tmp_path / "procedure.dot"
    assert main(["diagram", "--format", "dot", "--guards", "--roles", "-o", str(out)]) == 0
    assert out.read_text() == to_dot(default_spec(), show_guards=True, show_roles=True)
    assert main(["diagram", "--format", "dot", "--direction", "LR", "-o", str(out)]) == 0
    assert out.read_text() == to_dot(default_spec(), direction="LR")


@pytest.mark.usefixtures("dot_program")
def test_cli_png_to_stdout_and_svg_to_file(capsysbinary: pytest.CaptureFixture[bytes],
                                           tmp_path: Path) -> None:
    """Binary output goes to stdout untouched; SVG can be written to a file."""
    assert main(["diagram", "--format", "png"]) == 0
    assert capsysbinary.readouterr().out.startswith(b"\x89PNG")
    out = tmp_path / "d.svg"
    assert main(["diagram", "--format", "svg", "-o", str(out)]) == 0
    assert "<svg" in out.read_text()


@pytest.mark.usefixtures("no_dot_on_path")
def test_cli_without_dot_exits_2_with_the_install_hint(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI reports the missing program on one stderr line, prints nothing on stdout, exits 2."""
    assert main(["diagram", "--format", "svg"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "apt-get install graphviz" in captured.err and captured.err.count("\n") == 1


def test_cli_custom_spec_from_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``--spec module:attribute`` finds a host module in the current folder (spec or factory)."""
    (tmp_path / "host_procedure.py").write_text(textwrap.dedent("""
        from escalation_fsm import StageSpec, TransitionSpec, TriggerSpec, default_spec

        SPEC = default_spec().extend(
            stages=[StageSpec(name="feedback", description="Feedback."),
                    StageSpec(name="closed", description="Closed.", final=True)],
            triggers=[TriggerSpec(name="close", description="Close it.")],
            transitions=[TransitionSpec(trigger="close", source="feedback", dest="closed",
                                        roles={"supervisor"})],
        )

        def make():
            return SPEC
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert main(["diagram", "--spec", "host_procedure:SPEC"]) == 0
    assert "    s_feedback --> s_closed : close" in capsys.readouterr().out
    assert main(["diagram", "--spec", "host_procedure:make"]) == 0
    assert "    s_closed --> [*]" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no_colon", "unknown spec 'no_colon'"),
        ("no_such_module_xyz:SPEC", "cannot import 'no_such_module_xyz'"),
        ("escalation_fsm:no_such_attribute", "has no 'no_such_attribute'"),
        ("escalation_fsm:__version__", "not a MachineSpec"),
        ("sys:exit", "it must take no argument"),
    ],
)
def test_cli_bad_spec_is_a_usage_error(reference: str, message: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A bad ``--spec`` exits with status 2 and one line saying what is wrong, never a traceback."""
    assert main(["diagram", "--spec", reference]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("escalation-fsm diagram: ")


def test_load_spec_accepts_dotted_attributes() -> None:
    """``module:obj.attr`` walks attributes, here to the default spec factory."""
    assert load_spec("escalation_fsm:procedure.default_spec") is default_spec()
