r"""The hash chain that makes a stored ticket tamper-evident.

Every store keeps, per ticket, a SHA-256 hash of its document as created (the *genesis*) and one
per history row, each covering the previous hash and that row's stored text: the audit record,
the patch it made, and its idempotency key. Changing, removing or inserting anything in the
middle of a history breaks the chain at the first row concerned; so does changing the document.

The hashes are computed over the exact texts a store writes, identically in every store, so a
ticket's chain is the same whichever store holds it. Format (version 1), with ``\x00`` between
parts (JSON text never contains a raw NUL):

* genesis: ``sha256("escalation-fsm/chain/1", ticket id, base version, document)``;
* a row: ``sha256(previous hash, record, changes or "", idempotency key or "")``.

Specs are not versioned yet; when they are, the spec fingerprint joins the genesis under a new
format version (older chains keep verifying under theirs).
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import sha256

__all__ = ["CHAIN_FORMAT", "chain", "genesis", "link"]

CHAIN_FORMAT = "escalation-fsm/chain/1"
"""The name and version of the hash format, the first part of every genesis."""

_SEP = b"\x00"


def genesis(ticket_id: str, base_version: int, document: str) -> str:
    """The hash a ticket's chain starts from: its id and document as created (hex digest)."""
    return sha256(_SEP.join((CHAIN_FORMAT.encode(), ticket_id.encode("utf-8"),
                             str(base_version).encode(), document.encode("utf-8")))).hexdigest()


def link(previous: str, record: str, changes: str | None, key: str | None) -> str:
    """The hash of one history row (its stored texts), chained to the ``previous`` one."""
    return sha256(_SEP.join((previous.encode(), record.encode("utf-8"),
                             (changes or "").encode("utf-8"),
                             (key or "").encode("utf-8")))).hexdigest()


def chain(start: str, rows: Iterable[tuple[str, str | None, str | None]]) -> list[str]:
    """The hashes of ``rows`` (record, changes, key texts), chained from ``start``."""
    hashes = []
    previous = start
    for record, changes, key in rows:
        previous = link(previous, record, changes, key)
        hashes.append(previous)
    return hashes
