"""Start-up cost: the package and the command line import only what is used.

``import escalation_fsm`` binds its public names on first use (PEP 562), and a command imports
only its own module, so ``escalation-fsm replay`` does not pay for the stores, the demo or the
diagrams before it reads its first row.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import escalation_fsm


def _modules_after(code: str) -> set[str]:
    """The ``escalation_fsm`` modules a fresh interpreter holds after running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\n"
         "print('\\n'.join(m for m in sys.modules if m.startswith('escalation_fsm')))"],
        check=True, capture_output=True, text=True)
    return set(done.stdout.split())


def test_importing_the_package_imports_only_its_bounds() -> None:
    """``import escalation_fsm`` alone loads the package and its bounds (which check
    ESCALATION_FSM_MAX_TEXT at import), nothing else of it."""
    assert _modules_after("import escalation_fsm") == {"escalation_fsm", "escalation_fsm.bounds"}


def test_every_public_name_resolves_to_its_module_object() -> None:
    """Each name of ``__all__`` is the very object its module defines (and is listed by dir)."""
    for name in escalation_fsm.__all__:
        value = getattr(escalation_fsm, name)
        module = importlib.import_module(value.__module__) if hasattr(value, "__module__") \
            else None
        if module is not None and hasattr(module, name):
            assert getattr(module, name) is value, name
        assert name in dir(escalation_fsm)


def test_spec_diff_stays_the_function_once_its_module_is_imported() -> None:
    """The submodule ``spec_diff`` does not shadow the function of the same name."""
    found = subprocess.run(
        [sys.executable, "-c", "import escalation_fsm.spec_diff, escalation_fsm\n"
         "print(callable(escalation_fsm.spec_diff), type(escalation_fsm.spec_diff).__name__)"],
        check=True, capture_output=True, text=True).stdout.split()
    assert found == ["True", "function"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A name the package does not have raises AttributeError, naming it."""
    try:
        escalation_fsm.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchName" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("no AttributeError")


def test_the_replay_command_does_not_import_other_commands_or_stores() -> None:
    """Parsing ``replay --help`` imports the replay command, not the stores, demo or diagrams."""
    loaded = _modules_after(
        "from escalation_fsm.cli import main\n"
        "try:\n    main(['replay', '--help'])\nexcept SystemExit:\n    pass")
    assert "escalation_fsm.cli.replay" in loaded
    assert not {m for m in loaded if m.startswith(("escalation_fsm.stores", "escalation_fsm.demo",
                                                   "escalation_fsm.cli.demo",
                                                   "escalation_fsm.diagrams"))}
