"""The mappings and sample logs shipped with the package (package data: they work from a wheel)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import MappingError
from .mapping import LogMapping, parse_mapping

__all__ = ["sample_log", "shipped_mapping", "shipped_mappings"]

_PACKAGE = __package__ or "escalation_fsm.replay"


def shipped_mappings() -> tuple[str, ...]:
    """Names of the mappings shipped with the package (``helpdesk``, ``servicenow``)."""
    folder = resources.files(_PACKAGE).joinpath("mappings")
    return tuple(sorted(entry.name.removesuffix(".toml") for entry in folder.iterdir()
                        if entry.name.endswith(".toml")))


def shipped_mapping(name: str) -> LogMapping:
    """A mapping shipped with the package, by name (see :func:`shipped_mappings`)."""
    if name not in shipped_mappings():
        raise MappingError(f"shipped:{name}", [f"no shipped mapping {name!r}; shipped: "
                                               f"{', '.join(shipped_mappings())}"])
    text = resources.files(_PACKAGE).joinpath("mappings", f"{name}.toml").read_text("utf-8")
    return parse_mapping(text, source=f"shipped:{name}")


_SAMPLES = {"helpdesk": "helpdesk_sample.csv", "servicenow": "servicenow_sample.csv.zip"}


def sample_log(name: str) -> Path:
    """A small sample of a real log shipped with the package, for the shipped mapping ``name``.

    ``helpdesk`` (32 cases of the Helpdesk log, CSV) or ``servicenow`` (30 incidents of the
    ServiceNow incident log, CSV in a zip); see ``samples/README.md`` for their origin.
    """
    if name not in _SAMPLES:
        raise MappingError(f"sample:{name}", [f"no sample log {name!r}; samples: "
                                              f"{', '.join(sorted(_SAMPLES))}"])
    return Path(str(resources.files(_PACKAGE).joinpath("samples", _SAMPLES[name])))
