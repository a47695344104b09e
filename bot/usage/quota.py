"""The ``daily_gpu_minutes`` setting: a member's GPU-minutes a day, and the roles that override it.

Written as a moderator types it: ``30`` (every member), ``30, @vip 120, @mods none`` (members with a listed role
get the most generous of their roles' quotas; ``none``: no quota), or ``none`` (no quota for anyone). Kept as
that canonical text, so it stores and shows like any other setting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass

MAX_MINUTES = 24 * 60
_UNLIMITED = ("none", "off", "unlimited", "-")
_ROLE = re.compile(r"<@&(\d{1,20})>|(\d{5,20})", re.ASCII)


class QuotaError(ValueError):
    """What a moderator typed is not a quota; the message says why and what would be."""


@dataclass(frozen=True)
class Quota:
    minutes: float | None  # None: no quota
    roles: tuple[tuple[int, float | None], ...] = ()  # (role, its minutes), in the order typed

    @classmethod
    def parse(cls, text: str) -> Quota:
        parts = [part.strip() for part in text.split(",")]
        if not parts or not parts[0]:
            raise QuotaError("give GPU-minutes a day (30), or none; roles after it: 30, @vip 120")
        base = _minutes(parts[0])
        roles: dict[int, float | None] = {}
        for part in parts[1:]:
            match = re.fullmatch(r"(\S+)\s+(\S+)", part)
            role = _ROLE.fullmatch(match[1]) if match else None
            if match is None or role is None:
                raise QuotaError(f"{part!r} is not a role and its minutes, e.g. @vip 120 (or @vip none)")
            roles[int(role[1] or role[2])] = _minutes(match[2])
        return cls(base, tuple(roles.items()))

    def __str__(self) -> str:
        shown = [_shown(self.minutes), *(f"<@&{role}> {_shown(minutes)}" for role, minutes in self.roles)]
        return ", ".join(shown)

    def for_member(self, roles: Collection[int]) -> float | None:
        """The member's minutes a day: the most generous of their roles' quotas where they have one."""
        own = [minutes for role, minutes in self.roles if role in roles]
        if not own:
            return self.minutes
        return None if None in own else max(m for m in own if m is not None)

    @property
    def role_ids(self) -> tuple[int, ...]:
        return tuple(role for role, _ in self.roles)


def _minutes(text: str) -> float | None:
    if text.lower() in _UNLIMITED:
        return None
    try:
        value = float(text)
    except ValueError:
        raise QuotaError(f"{text!r} is not a number of minutes (or none)") from None
    if not (0 <= value <= MAX_MINUTES) or math.isnan(value):
        raise QuotaError(f"{text} minutes is out of range; use 0 to {MAX_MINUTES}, or none")
    return value


def _shown(minutes: float | None) -> str:
    return "none" if minutes is None else f"{minutes:g}"
