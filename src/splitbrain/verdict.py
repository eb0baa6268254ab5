"""Verdicts: one type, one merge, one word each (floor 1: imports nothing of ours).

A verdict is Jepsen's ``:valid?``: ``True`` (valid), ``False`` (invalid),
``"unknown"`` (a checker could not decide within its budget, or had nothing to
judge) — plus ``"error"`` for a run whose harness failed (exit code 3), which
says nothing about the system. This is also the JSON form in ``results.json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

UNKNOWN: Literal["unknown"] = "unknown"
ERROR: Literal["error"] = "error"

Verdict = bool | Literal["unknown", "error"]

#: display words, in the order a summary counts them
WORDS = ("valid", "invalid", "unknown", "error")


def normalize(v: Any) -> Verdict:
    """A verdict from JSON or a checker: ``True``/``False``/``"error"``; anything else unknown."""
    if v is True or v is False:
        return v
    return ERROR if v == ERROR else UNKNOWN


def merge(verdicts: Iterable[Any]) -> Verdict:
    """Compose verdicts: invalid beats error beats unknown beats valid.

    Nothing to merge is ``unknown``: a check that judged nothing must not pass.
    """
    seen: set[Verdict] = set()
    for v in verdicts:
        v = normalize(v)
        if v is False:
            return False
        seen.add(v)
    if not seen:
        return UNKNOWN
    if ERROR in seen:
        return ERROR
    return UNKNOWN if UNKNOWN in seen else True


def word(v: Any) -> str:
    """``valid`` / ``invalid`` / ``unknown`` / ``error``, for display and summaries."""
    v = normalize(v)
    return "valid" if v is True else "invalid" if v is False else str(v)


def from_word(w: str) -> Verdict:
    """The verdict a word names (campaign ``expect`` values); ValueError otherwise."""
    table: dict[str, Verdict] = {"valid": True, "invalid": False, "unknown": UNKNOWN,
                                 "error": ERROR}
    try:
        return table[w.strip().lower()]
    except KeyError:
        raise ValueError(f"expected one of {', '.join(WORDS)}, got {w!r}") from None


def exit_code(v: Any) -> int:
    """Jepsen's exit codes: 0 valid, 1 invalid, 2 unknown, 3 the harness failed."""
    v = normalize(v)
    return 0 if v is True else 1 if v is False else 3 if v == ERROR else 2
