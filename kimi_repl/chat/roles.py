"""Roles: named settings from the config file, taken and left as a whole."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from kimi_repl.config import Role
from kimi_repl.conversation import InForce


def role_changes(role: Role) -> dict[str, Any]:
    """What taking ``role`` changes of the settings in force, by :class:`InForce` field name."""
    wanted = {"model": role.model, "temperature": role.temperature, "thinking": role.thinking}
    changes: dict[str, Any] = {name: value for name, value in wanted.items() if value is not None}
    if role.system is not None:
        changes["system"] = role.system or None
    return changes


class Roles:
    """The role in force, and the settings it replaced (leaving it puts them back)."""

    def __init__(self, role: Role | None) -> None:
        self.role = role
        self._before: InForce | None = None

    def take(self, role: Role, now: InForce) -> dict[str, Any]:
        """Take ``role`` over the settings ``now`` in force (a role in force is left first: one role's settings
        never linger under another's); return what changes, by :class:`InForce` field name."""
        base = now
        if self.role is not None:
            _, back = self.leave(now)
            base = back or now
        self._before = base
        self.role = role
        target = base.but(**role_changes(role))
        changed = [item.name for item in fields(target) if getattr(target, item.name) != getattr(now, item.name)]
        return {name: getattr(target, name) for name in changed}

    def leave(self, now: InForce) -> tuple[Role | None, InForce | None]:
        """Leave the role: the role left (or None), and the settings to put in force instead of ``now`` (None:
        nothing to put back). Only what still holds the role's value goes back: a choice made after it stays."""
        left, self.role = self.role, None
        before, self._before = self._before, None
        if before is None or left is None:
            return left, None
        still = role_changes(left).items()
        return left, now.but(**{name: getattr(before, name) for name, value in still if getattr(now, name) == value})
