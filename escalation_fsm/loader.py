"""The one way to name a spec from outside Python: ``default``, ``logged`` or ``module:attribute``.

Used by every command's ``--spec`` and by a replay mapping's ``spec`` key. ``module:attribute``
imports ``module`` the way ``python -m`` would, from the current folder first (a host's own
``myhelpdesk/procedure.py`` works without installing it), then from the installed packages; the
attribute (dotted names allowed) is a :class:`~escalation_fsm.spec.MachineSpec` or a callable
taking no argument that returns one (``escalation_fsm:default_spec``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import SpecError
from .procedure import default_spec, logged_procedure_spec
from .spec import MachineSpec

__all__ = ["BUILTIN_SPECS", "load_spec"]

BUILTIN_SPECS: dict[str, Callable[[], MachineSpec]] = {
    "default": default_spec,
    "logged": logged_procedure_spec,
}
"""The shipped specs by name: the written procedure, and the same as helpdesk logs record it."""


def load_spec(reference: str) -> MachineSpec:
    """The spec named by ``reference``; :class:`SpecError` says what is wrong with it.

    Importing the module runs its code: a module that raises, exits, or a callable that needs
    arguments is reported as a :class:`SpecError`, never as a traceback or a silent exit.
    """
    if reference in BUILTIN_SPECS:
        return BUILTIN_SPECS[reference]()
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise SpecError([f"unknown spec {reference!r}: use one of {sorted(BUILTIN_SPECS)} or "
                         f"'module:attribute'"])
    here = str(Path.cwd())
    if here not in sys.path:
        # Like `python -m`: the console script's sys.path does not include the current folder.
        sys.path.insert(0, here)
    try:
        target: Any = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # host code: any failure is reported, even an exit
        raise SpecError([f"cannot import {module_name!r} for spec {reference!r}: "
                         f"{type(exc).__name__}: {exc}"]) from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise SpecError([f"module {module_name!r} has no {attribute!r} (spec {reference!r})"]) from exc
    if callable(target) and not isinstance(target, MachineSpec):
        try:
            target = target()
        except (Exception, SystemExit) as exc:  # host code: any failure is reported, even an exit
            raise SpecError([f"calling {reference} (it must take no argument and return a "
                             f"MachineSpec) failed: {type(exc).__name__}: {exc}"]) from exc
    if not isinstance(target, MachineSpec):
        raise SpecError([f"{reference} gives a {type(target).__name__}, not a MachineSpec (or a "
                         f"function returning one)"])
    return target
