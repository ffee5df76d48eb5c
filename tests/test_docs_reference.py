"""The reference pages cannot silently miss a public name, a command or a command's option.

* ``docs/api.md`` documents every name of every public package's ``__all__``: with an autodoc
  directive (``.. autoclass:: escalation_fsm.Ticket``, ...) or, for a name the package re-exports,
  with a link under "Also exported here" to the directive that documents the same object.
* ``docs/cli.md`` has a section per sub-command of ``escalation_fsm.cli.build_parser()``, whose
  synopsis lists exactly the command's options, each of them also explained in the section.

The checks are plain functions over the page text, so the tests below also show that they catch
a missing name or option (they are not vacuous).
"""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest

from escalation_fsm.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "api.md"
CLI = ROOT / "docs" / "cli.md"

PACKAGES = (
    "escalation_fsm",
    "escalation_fsm.marks",
    "escalation_fsm.typing",
    "escalation_fsm.loader",
    "escalation_fsm.stores",
    "escalation_fsm.sla",
    "escalation_fsm.replay",
    "escalation_fsm.diagrams",
    "escalation_fsm.testing",
    "escalation_fsm.errors",
    "escalation_fsm.observe",
    "escalation_fsm.otel",
)
"""The public packages whose ``__all__`` the API reference must cover."""

# -- the API reference -----------------------------------------------------------------------------

DIRECTIVE = re.compile(r"^\.\. auto(\w+)::\s*(\S+)\s*$", re.MULTILINE)
HEADING = re.compile(r"^## `([\w.]+)`\s*$", re.MULTILINE)
REFERENCE = re.compile(r"\{(?:py:)?(?:class|exc|func|data|obj|attr)\}`~?([\w.]+)`")
ALSO = "Also exported here:"


def resolve(dotted: str) -> object:
    """The object a dotted name refers to: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            target = getattr(target, part)
        return target
    raise ImportError(dotted)


def directives(text: str) -> dict[str, str]:
    """Every autodoc directive of ``text``: documented dotted name -> kind (class, module, ...)."""
    found: dict[str, str] = {}
    for kind, name in DIRECTIVE.findall(text):
        assert name not in found, f"{name} is documented twice in docs/api.md"
        found[name] = kind
    return found


def sections(text: str) -> dict[str, str]:
    """The text of each ``## `package``` section of ``text``, by package name."""
    heads = list(HEADING.finditer(text))
    return {head.group(1): text[head.end():heads[n + 1].start() if n + 1 < len(heads) else len(text)]
            for n, head in enumerate(heads)}


def re_exports(section: str) -> list[str]:
    """The names linked under "Also exported here" in one package's section."""
    _, also, rest = section.partition(ALSO)
    return REFERENCE.findall(rest.split("\n\n")[0]) if also else []


def api_problems(text: str, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """What the API reference ``text`` misses or gets wrong; empty when it covers everything."""
    documented = directives(text)
    by_package = sections(text)
    problems: list[str] = []
    for name, kind in documented.items():
        if kind == "module":
            continue
        package, _, attribute = name.rpartition(".")
        module = importlib.import_module(package)
        if attribute not in getattr(module, "__all__", ()):
            problems.append(f"{name} is documented but not in {package}.__all__")
    for package in packages:
        module: ModuleType = importlib.import_module(package)
        if documented.get(package) != "module":
            problems.append(f"no `.. automodule:: {package}` (with :no-members:)")
        section = by_package.get(package)
        if section is None:
            problems.append(f"no section headed ## `{package}`")
            continue
        linked = {target.rpartition(".")[2]: target for target in re_exports(section)}
        for target in linked.values():
            if target not in documented:
                problems.append(f"{package}: {target} is linked under {ALSO!r} but no directive "
                                f"documents it")
        for attribute in module.__all__:
            value = getattr(module, attribute)
            if f"{package}.{attribute}" in documented:
                continue
            target = linked.get(attribute)
            if target is None:
                problems.append(f"{package}.{attribute} is not documented: add a directive, or "
                                f"link it under {ALSO!r} in the {package} section")
            elif target in documented and resolve(target) is not value:
                problems.append(f"{package}.{attribute} links to {target}, another object")
    return problems


def test_every_automodule_documents_its_names_one_by_one() -> None:
    """An automodule with members would document names this test cannot see: :no-members: only."""
    text = API.read_text(encoding="utf-8")
    for match in re.finditer(r"^\.\. automodule::\s*(\S+)\n((?:   .*\n)*)", text, re.MULTILINE):
        assert ":no-members:" in match.group(2), match.group(1)


def test_api_reference_covers_every_public_name() -> None:
    """Every name of every public package's __all__ is in docs/api.md, and nothing else is."""
    assert api_problems(API.read_text(encoding="utf-8")) == []


def test_api_check_reports_a_missing_and_a_misdirected_name() -> None:
    """Removing a directive, or linking a re-export to another object, is reported."""
    text = API.read_text(encoding="utf-8")
    assert ".. autoclass:: escalation_fsm.sla.ClockState\n" in text
    missing = api_problems(text.replace(".. autoclass:: escalation_fsm.sla.ClockState\n", ""))
    assert missing == ["escalation_fsm.sla.ClockState is not documented: add a directive, or link "
                       "it under 'Also exported here:' in the escalation_fsm.sla section"]
    assert "{class}`~escalation_fsm.typing.TicketStore`,\n{exc}" in text
    wrong = api_problems(text.replace("{class}`~escalation_fsm.typing.TicketStore`,\n{exc}",
                                      "{class}`~escalation_fsm.Ticket`,\n{exc}"))
    assert "escalation_fsm.stores.TicketStore is not documented" in wrong[0]


def test_api_check_sees_a_new_public_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name added to a package's __all__ fails the check until it is documented."""
    from escalation_fsm import loader

    monkeypatch.setattr(loader, "__all__", [*loader.__all__, "resolve_spec_later"], raising=True)
    monkeypatch.setattr(loader, "resolve_spec_later", loader.load_spec, raising=False)
    problems = api_problems(API.read_text(encoding="utf-8"))
    assert problems == ["escalation_fsm.loader.resolve_spec_later is not documented: add a "
                        "directive, or link it under 'Also exported here:' in the "
                        "escalation_fsm.loader section"]


# -- the command line ------------------------------------------------------------------------------

COMMAND_HEADING = re.compile(r"^## `escalation-fsm ([\w-]+)`\s*$", re.MULTILINE)
OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-commands of ``parser`` by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(command: argparse.ArgumentParser) -> tuple[list[tuple[str, ...]], set[str]]:
    """A command's options, each as its strings (``("-o", "--output")``), and its positionals."""
    flags: list[tuple[str, ...]] = []
    positionals: set[str] = set()
    for action in command._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            flags.append(tuple(action.option_strings))
        else:
            positionals.add(str(action.metavar or action.dest))
    return flags, positionals


def synopsis(section: str, name: str) -> str | None:
    """The ```text block of ``section`` that starts with ``escalation-fsm <name>``."""
    for block in re.findall(r"^```text\n(.*?)^```", section, re.DOTALL | re.MULTILINE):
        if block.startswith(f"escalation-fsm {name}"):
            return str(block)
    return None


def cli_problems(text: str, parser: argparse.ArgumentParser) -> list[str]:
    """What the command-line page ``text`` misses or gets wrong; empty when it is complete."""
    heads = list(COMMAND_HEADING.finditer(text))
    documented = {head.group(1): text[head.end():heads[n + 1].start() if n + 1 < len(heads)
                                      else len(text)] for n, head in enumerate(heads)}
    problems: list[str] = []
    for name, command in commands(parser).items():
        section = documented.get(name)
        if section is None:
            problems.append(f"no section headed ## `escalation-fsm {name}`")
            continue
        flags, positionals = options(command)
        known = {flag for strings in flags for flag in strings}
        usage = synopsis(section, name)
        if usage is None:
            problems.append(f"{name}: no synopsis (a ```text block starting 'escalation-fsm {name}')")
        else:
            shown = set(OPTION.findall(usage))
            problems += [f"{name}: the synopsis lacks {' or '.join(strings)}" for strings in flags
                         if not shown & set(strings)]
            problems += [f"{name}: the synopsis shows {flag}, which the command does not take"
                         for flag in sorted(shown - known)]
            problems += [f"{name}: the synopsis lacks the argument {arg}"
                         for arg in sorted(positionals) if arg not in usage]
        explained = set(OPTION.findall(section.replace(usage or "", "")))
        problems += [f"{name}: {flag} is not explained outside the synopsis"
                     for flag in sorted(known - explained)]
        prose = " ".join(section.split())
        if "exit status 2" not in prose and "exits with status 2" not in prose:
            problems.append(f"{name}: the section does not say that errors exit with status 2")
    problems += [f"docs/cli.md documents `escalation-fsm {name}`, which does not exist"
                 for name in sorted(set(documented) - set(commands(parser)))]
    return problems


def test_cli_page_documents_every_command_and_option() -> None:
    """Every sub-command of build_parser() has a section; every option is in its synopsis and text."""
    assert set(commands(build_parser())) == {"demo", "diagram", "replay", "follow-up", "reindex",
                                             "verify", "timeline", "migrate", "specs", "review"}
    assert cli_problems(CLI.read_text(encoding="utf-8"), build_parser()) == []


def test_cli_check_reports_missing_commands_and_options() -> None:
    """A new command, a new option and a removed one are all reported."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    subparsers.add_parser("archive")
    commands(parser)["reindex"].add_argument("--dry-run", action="store_true")
    text = CLI.read_text(encoding="utf-8")
    problems = cli_problems(text, parser)
    assert "no section headed ## `escalation-fsm archive`" in problems
    assert "reindex: the synopsis lacks --dry-run" in problems
    assert "reindex: --dry-run is not explained outside the synopsis" in problems
    stale = text.replace("escalation-fsm demo [--db FILE]", "escalation-fsm demo [--db FILE] [--seed N]")
    assert "demo: the synopsis shows --seed, which the command does not take" in cli_problems(
        stale, build_parser())
