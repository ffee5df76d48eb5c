"""Public holidays from the well-kept ``holidays`` package (the optional ``sla`` extra).

The package is imported only when a calendar names a country, so ``import escalation_fsm`` never
needs it, and explicit holiday dates work without it.
"""

from __future__ import annotations

import importlib
from datetime import date
from functools import lru_cache
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from ..errors import HolidaysUnavailable

__all__ = ["PublicHolidays"]


def _library() -> Any:
    # Typed Any and imported by name: it is optional, and only its country_holidays is used.
    try:
        return importlib.import_module("holidays")
    except ImportError as exc:
        raise HolidaysUnavailable from exc


class PublicHolidays(BaseModel):
    """A country's public holidays (ISO 3166 code), optionally of one subdivision (state, region).

    Checked when built: an unknown country or subdivision is a ``ValidationError``, and a missing
    ``holidays`` package raises :class:`HolidaysUnavailable` straight away rather than on the first
    deadline.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,3}$")]
    subdivision: str | None = None

    @model_validator(mode="after")
    def _known(self) -> Self:
        try:
            _year(self.country, self.subdivision, 2000)
        except NotImplementedError as exc:  # what the package raises for an unknown country
            where = self.country if self.subdivision is None else f"{self.country}-{self.subdivision}"
            raise ValueError(f"no public holidays known for {where!r}: {exc}") from exc
        return self

    def contains(self, day: date) -> bool:
        """Whether ``day`` is a public holiday here."""
        return day in _year(self.country, self.subdivision, day.year)


@lru_cache(maxsize=256)
def _year(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    # One lookup per (place, year): the package's own objects are mutable dict subclasses.
    found = _library().country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(found)
