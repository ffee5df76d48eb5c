"""Give re-exported constants their own docstrings in the API reference.

The reference documents names where users import them (``escalation_fsm.sla.DEFAULT_TARGETS``),
but a constant's docstring is a string literal after its assignment, which Sphinx finds only in
the source of the module that assigns it (``escalation_fsm/sla/policy.py``). For a re-exported
constant autodoc then falls back to the docstring of the value's type, and the page would show
``dict()``'s or ``int()``'s help. This extension looks the docstring up in the submodule that
defines the constant instead, and shows none rather than the type's.

It also drops the "Alias for field number N" that ``NamedTuple`` gives every field (the field
keeps its name and type, and the class docstring says what it holds), and shows a class's public
bases instead of private helpers such as ``_Frozen`` (a pydantic model shows ``BaseModel``).

And a reference to a name where a package re-exports it (``escalation_fsm.errors.SpecMismatch``,
``escalation_fsm.models.Ticket``) that is documented elsewhere (``escalation_fsm.SpecMismatch``)
resolves through the object's defining module (``escalation_fsm.errors._specs``): autodoc records
that one as the canonical name of what it documents, and the package's name would otherwise find
nothing once the package defines its names in private submodules.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment


def _attribute_doc(module_name: str, attribute: str) -> list[str] | None:
    """The docstring written after ``attribute = ...`` in ``module_name``'s source, if any."""
    try:
        docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
    except PycodeError:
        return None
    found = docs.get(("", attribute))
    return list(found) if found else None


def defining_doc(name: str, value: Any) -> list[str]:
    """The docstring of the constant ``name`` (``package.ATTRIBUTE``), from where it is assigned.

    The package itself is asked first, then every loaded submodule holding the same object.
    """
    package, _, attribute = name.rpartition(".")
    own = _attribute_doc(package, attribute)
    if own is not None:
        return own
    for module_name, module in sorted(sys.modules.items()):
        if module is None or not module_name.startswith(package + "."):
            continue
        if vars(module).get(attribute, _MISSING) is value:
            found = _attribute_doc(module_name, attribute)
            if found is not None:
                return found
    return []


_MISSING = object()


def _process(app: Sphinx, what: str, name: str, obj: Any, options: Any,  # noqa: PLR0917
             lines: list[str]) -> None:
    del app, options  # the event's signature (autodoc-process-docstring) passes them all
    if what == "data":
        lines[:] = defining_doc(name, obj)
    elif what == "attribute" and len(lines) <= 2 and lines and lines[0].startswith(_FIELD_ALIAS):
        lines[:] = []


_FIELD_ALIAS = "Alias for field number "


def public_bases(bases: list[type]) -> list[type]:
    """``bases`` with each private class (``_Name``) replaced by its own public bases."""
    found: list[type] = []
    for base in bases:
        expanded = (public_bases(list(base.__bases__)) if base.__name__.startswith("_")
                    else [base])
        found += [item for item in expanded if item not in found]
    return found


def _bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list[type]) -> None:
    del app, name, obj, options  # the event's signature (autodoc-process-bases) passes them all
    bases[:] = public_bases(bases)


def defining_name(dotted: str) -> str | None:
    """Where the object ``dotted`` names is defined (``module.qualname``), if that is elsewhere."""
    module_name, _, attribute = dotted.rpartition(".")
    if not module_name.startswith("escalation_fsm"):
        return None  # only our own names: never import another project's module here
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return None
    value = getattr(module, attribute, None)
    defined_in, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not isinstance(defined_in, str) or not isinstance(qualname, str):
        return None  # a constant, or not there at all
    found = f"{defined_in}.{qualname}"
    return None if found == dotted else found


def _missing(app: Sphinx, env: BuildEnvironment, node: Any, contnode: Any) -> Any:
    target = node.get("reftarget")
    if node.get("refdomain") != "py" or not target:
        return None
    module = node.get("py:module")  # a bare name in a module's docstring means one of it
    defined = defining_name(target if "." in target or not module else f"{module}.{target}")
    if defined is None:
        return None
    return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                             defined, node, contnode)


def setup(app: Sphinx) -> dict[str, object]:
    """Sphinx entry point."""
    app.connect("autodoc-process-docstring", _process)
    app.connect("autodoc-process-bases", _bases)
    app.connect("missing-reference", _missing)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
