"""The API reference links a name where a package re-exports it to where it is documented.

``escalation_fsm.errors`` and ``escalation_fsm.models`` define their names in private submodules;
a docstring's ``:class:`~escalation_fsm.errors.SpecMismatch``` must still link to the documented
``escalation_fsm.SpecMismatch``. The docs extension does it by the object's defining module
(autodoc records that as the canonical name of what it documents): these tests pin that lookup.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs extension runs only under Sphinx (the docs extra)")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs" / "_ext"))

from reexported_docs import defining_name  # the docs tooling, found above


def test_a_reexported_error_or_model_leads_to_its_defining_module() -> None:
    """The package's name of an error or a model gives the submodule that defines it."""
    assert defining_name("escalation_fsm.errors.SpecMismatch") == "escalation_fsm.errors._specs.SpecMismatch"
    assert defining_name("escalation_fsm.errors.TicketNotFound") == "escalation_fsm.errors._stores.TicketNotFound"
    assert defining_name("escalation_fsm.models.Ticket") == "escalation_fsm.models._ticket.Ticket"
    assert defining_name("escalation_fsm.models.evolve") == "escalation_fsm.models._building.evolve"


def test_nothing_to_redirect_gives_none() -> None:
    """A name already canonical, a constant, a missing name or another project's name: no lookup."""
    assert defining_name("escalation_fsm.errors._specs.SpecMismatch") is None
    assert defining_name("escalation_fsm.models.IMPORT_TRIGGER") is None  # a str has no qualname
    assert defining_name("escalation_fsm.errors.NoSuchError") is None
    assert defining_name("escalation_fsm.no_such_module.Thing") is None
    assert defining_name("collections.abc.Sequence") is None
