"""Composing checker verdicts: false beats unknown beats true (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Verdict = bool | str  # True, False or "unknown"

UNKNOWN = "unknown"


def merge_valid(verdicts: Iterable[Any]) -> Verdict:
    """Combine verdicts: any False -> False; else any unknown -> "unknown"; else True."""
    seen_unknown = False
    any_seen = False
    for v in verdicts:
        any_seen = True
        if v is False:
            return False
        if v is not True:
            seen_unknown = True
    if not any_seen:
        return UNKNOWN
    return UNKNOWN if seen_unknown else True


def verdict_word(v: Any) -> str:
    """``valid`` / ``invalid`` / ``unknown`` for display."""
    return "valid" if v is True else "invalid" if v is False else "unknown"


def exit_code(v: Any) -> int:
    """Jepsen's exit codes: 0 valid, 1 invalid, 2 unknown."""
    return 0 if v is True else 1 if v is False else 2
