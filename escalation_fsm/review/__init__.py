"""Review the tickets a store holds for trends and training opportunities.

:func:`review_store` gives the same :class:`~escalation_fsm.replay.ReviewReport` as a replay of
an exported log (conformance, first-contact resolution, escalation and reopen rates, time to
resolution, SLA breaches, by category, priority and month), from the stored histories, streamed,
with the training-opportunities section. ``escalation-fsm review`` is the command; see
``docs/review.md``.
"""

from ..replay.training import TrainingFigures, TrainingFinding, TrainingSection, wilson_interval
from .store import review_store

__all__ = ["TrainingFigures", "TrainingFinding", "TrainingSection", "review_store",
           "wilson_interval"]
