"""Who is calling: the actor of every write, from request headers checked against the spec.

Authentication is the host's job. This service trusts two headers, ``X-Actor-Id`` and
``X-Actor-Role``, which only makes sense behind a gateway that sets them after authenticating the
caller (and strips them from outside requests). To plug in real authentication, pass
``create_app(authenticate=...)`` a function of the request that returns the
:class:`~escalation_fsm.Actor` (from a verified JWT, a session, mTLS, ...) or raises
:class:`NotAuthenticated`; every route gets its actor from there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from escalation_fsm import Actor, MachineSpec

Authenticate = Callable[[Request], Awaitable[Actor]]
"""What the host plugs in: the request's actor, or :class:`NotAuthenticated`."""


class NotAuthenticated(Exception):
    """The request names no acceptable actor (answered with 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownRole(Exception):
    """The actor's role is not one of the spec's roles (answered with 403)."""

    def __init__(self, role: str, roles: frozenset[str]) -> None:
        super().__init__(f"role {role!r} is not a role of this procedure")
        self.role = role
        self.roles = roles


def header_actor(spec: MachineSpec) -> Authenticate:
    """The default: the actor named by ``X-Actor-Id`` and ``X-Actor-Role``, role checked."""
    roles = frozenset(role for transition in spec.transitions for role in transition.roles)
    # Actors are immutable values: one validated per caller, not per request (bounded).
    known: dict[tuple[str, str], Actor] = {}

    async def authenticate(request: Request) -> Actor:
        headers = request.headers
        actor_id = headers.get("x-actor-id", "").strip()
        role = headers.get("x-actor-role", "").strip()
        actor = known.get((actor_id, role))
        if actor is not None:
            return actor
        if not actor_id or not role:
            raise NotAuthenticated("send X-Actor-Id and X-Actor-Role (set by your gateway after "
                                   "authenticating the caller)")
        if role not in roles:
            raise UnknownRole(role, roles)
        actor = Actor(id=actor_id, role=role)
        if len(known) >= _KNOWN_ACTORS:
            known.clear()
        known[actor_id, role] = actor
        return actor
    return authenticate


_KNOWN_ACTORS = 4096
