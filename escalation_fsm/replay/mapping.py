"""Mapping files: how a helpdesk's event log maps onto a spec's triggers.

A mapping is TOML (standard-library ``tomllib``), validated by pydantic; every problem is reported
at once with the line and key it concerns. See ``docs/replay.md`` for the format, and the shipped
mappings (:func:`shipped_mapping`) for complete examples.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from ..spec import MachineSpec
from .errors import MappingError
from .specs import observable_guards

__all__ = ["Columns", "Condition", "LogMapping", "load_mapping", "parse_mapping", "shipped_mapping",
           "shipped_mappings"]

TriggerChoice = str | list[str]
"""One trigger, or ordered alternatives: the first one the spec defines from the ticket's
current stage is fired (e.g. "taken in charge" is ``attempt`` normally, ``reopen`` once resolved)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Columns(_Model):
    """Which column holds what. Only ``case``, ``activity`` and ``timestamp`` are required."""

    case: str
    activity: str
    timestamp: str
    timestamp_format: str = "iso"
    """``iso`` (ISO 8601, with or without offset) or a ``strptime`` format such as ``%d/%m/%Y %H:%M``."""
    timezone: str = "UTC"
    """Zone for timestamps without an offset (an IANA name, or ``UTC``)."""
    order: str | None = None
    """Column ordering the events of a case (default: the timestamp); integers sort numerically."""
    resource: str | None = None
    category: str | None = None
    priority: str | None = None
    activity_changes_only: bool = False
    """For state-snapshot logs (one row per modification): a row whose activity equals the previous
    row's does not fire the activity's trigger again (conditions are still evaluated)."""


class Condition(_Model):
    """A trigger fired because of a column's value, e.g. escalation when the support level changes."""

    column: str
    op: Literal["equals", "changed", "increased"]
    value: str | None = None
    activity: str | None = None
    """Only rows with this activity (any row when omitted)."""
    trigger: str
    position: Literal["instead", "before", "after"] = "instead"
    """``instead`` of the activity's trigger, or fired ``before`` / ``after`` it."""

    @model_validator(mode="after")
    def _value_for_equals(self) -> Condition:
        if (self.op == "equals") != (self.value is not None):
            raise ValueError("`value` is required with op = \"equals\" and only allowed with it")
        return self


class LogMapping(_Model):
    """A validated mapping file. Build one with :func:`load_mapping` or :func:`shipped_mapping`."""

    format_version: Literal[1] = 1
    name: str
    description: str = ""
    spec: str = "logged"
    """``default``, ``logged`` (:func:`~escalation_fsm.replay.specs.logged_procedure_spec`) or
    ``package.module:function`` returning a :class:`~escalation_fsm.spec.MachineSpec`."""
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    encoding: str = "utf-8"
    member: str | None = None
    """The CSV inside a ``.zip`` (default: its only ``.csv``)."""
    missing: tuple[str, ...] = ("", "?")
    """Cell values that mean "no value"."""
    grouped: bool = True
    """The rows of a case are contiguous (streamed, memory bounded); false loads the whole log."""
    on_unknown: Literal["error", "skip"] = "error"
    """An activity neither in ``activities`` nor in ``ignore``: stop with an error, or skip the
    event (skipped activities are counted in the report)."""
    require_final: bool = True
    """A case not ending in a final stage is reported ``open`` (not fitting yet, not deviating)."""
    columns: Columns
    activities: dict[str, TriggerChoice]
    ignore: tuple[str, ...] = ()
    """Activities that are recorded but fire nothing."""
    conditions: tuple[Condition, ...] = ()
    observable_guards: tuple[str, ...] | None = None
    """Guards the log can show. Default: those whose declared reads the log provides (no
    payload; the stage, tier and history, and the category when a category column is declared);
    see :func:`~escalation_fsm.replay.specs.observable_guards`."""
    roles: dict[str, str] = Field(default_factory=dict)
    """Resource -> role; when given, role rules are checked (unlisted resources: ``default_role``)."""
    default_role: str | None = None

    _source: str = PrivateAttr(default="<mapping>")
    _text: str = PrivateAttr(default="")

    @property
    def source(self) -> str:
        """Where the mapping came from (a path or ``shipped:<name>``)."""
        return self._source

    def located(self, source: str, text: str) -> LogMapping:
        """This mapping, told where it came from and its text, so problems name their line."""
        self._source = source
        self._text = text
        return self

    def guards_observable(self, spec: MachineSpec) -> tuple[str, ...]:
        """The guards of ``spec`` this log can show (see ``observable_guards``)."""
        if self.observable_guards is not None:
            return self.observable_guards
        return observable_guards(spec, category=self.columns.category is not None)

    def check_against(self, spec: MachineSpec) -> None:
        """Raise :class:`MappingError` if a trigger, guard or role is unknown to ``spec``."""
        problems: list[str] = []
        for activity, choice in self.activities.items():
            names = [choice] if isinstance(choice, str) else choice
            if not names:
                problems.append(self._where(("activities", activity),
                                            "empty trigger list: use `ignore` instead"))
            problems += [
                self._where(("activities", activity),
                            f"unknown trigger {name!r}; spec {spec.name!r} has "
                            f"{', '.join(spec.trigger_names)}")
                for name in names if not spec.has_trigger(name)
            ]
        for index, condition in enumerate(self.conditions):
            if not spec.has_trigger(condition.trigger):
                problems.append(self._where(("conditions", index, "trigger"),
                                            f"unknown trigger {condition.trigger!r}"))
        guards = {g.name for g in spec.guards}
        problems += [self._where(("observable_guards",), f"unknown guard {name!r}")
                     for name in self.observable_guards or () if name not in guards]
        if problems:
            raise MappingError(self._source, problems)

    def _where(self, loc: tuple[str | int, ...], message: str) -> str:
        return _locate(self._text, loc, message)


def load_mapping(path: str | Path) -> LogMapping:
    """Read and validate a TOML mapping file; :class:`MappingError` names each bad line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(str(path), [f"cannot read it: {exc.strerror or exc}"]) from exc
    return parse_mapping(text, source=str(path))


def parse_mapping(text: str, *, source: str = "<mapping>") -> LogMapping:
    """Validate mapping TOML given as text (``source`` names it in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(source, [f"not valid TOML: {exc}"]) from exc
    try:
        mapping = LogMapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(source, [_locate(text, tuple(error["loc"]), error["msg"])
                                    for error in exc.errors()]) from exc
    return mapping.located(source, text)


def shipped_mappings() -> tuple[str, ...]:
    """Names of the mappings shipped with the package (``helpdesk``, ``servicenow``)."""
    folder = resources.files(__package__).joinpath("mappings")
    return tuple(sorted(entry.name.removesuffix(".toml") for entry in folder.iterdir()
                        if entry.name.endswith(".toml")))


def shipped_mapping(name: str) -> LogMapping:
    """A mapping shipped with the package, by name (see :func:`shipped_mappings`)."""
    if name not in shipped_mappings():
        raise MappingError(f"shipped:{name}", [f"no shipped mapping {name!r}; shipped: "
                                               f"{', '.join(shipped_mappings())}"])
    text = resources.files(__package__).joinpath("mappings", f"{name}.toml").read_text("utf-8")
    return parse_mapping(text, source=f"shipped:{name}")


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _locate(text: str, loc: tuple[str | int, ...], message: str) -> str:
    """``line N (key.path): message``: the line of the deepest part of ``loc`` found in ``text``.

    pydantic reports where in the *data* a problem is; this walks the TOML text to the line that
    defines it (a ``[section]`` or ``[[array]]`` header, then ``key =`` inside it), so a user sees
    the line to fix. Tables written inline are located at their key.
    """
    path = ".".join(str(part) for part in loc) or "(top level)"
    lines = text.splitlines()
    line = _find(lines, loc)
    where = f"line {line} " if line else ""
    return f"{where}({path}): {message}"


def _find(lines: list[str], loc: tuple[str | int, ...]) -> int | None:
    if not loc:
        return None
    section, rest = str(loc[0]), loc[1:]
    start, end, found = 0, len(lines), None
    headers = [(i, m.group(1), m.group(2)) for i, line in enumerate(lines)
               if (m := _HEADER.match(line))]
    matching = [i for i, _, name in headers if name == section]
    if matching:
        index = rest[0] if rest and isinstance(rest[0], int) else 0
        if index < len(matching):
            start = matching[index]
            found = start + 1
            if rest and isinstance(rest[0], int):
                rest = rest[1:]
            end = next((i for i, _, _ in headers if i > start), len(lines))
            start += 1
        keys = [str(part) for part in rest if not isinstance(part, int)]
    else:
        # A top-level key (or a table that is missing altogether): search before any header.
        end = headers[0][0] if headers else len(lines)
        keys = [section]
    for key in keys[:1]:
        pattern = re.compile(rf'^\s*("{re.escape(key)}"|\'{re.escape(key)}\'|{re.escape(key)})\s*=')
        for i in range(start, end):
            if pattern.match(lines[i]):
                return i + 1
    return found
