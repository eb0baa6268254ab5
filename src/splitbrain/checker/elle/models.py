"""Consistency models, the anomalies each one forbids, and which anomalies imply which.

The relationships follow Elle's ``elle.consistency-model`` (which cites Adya, Bailis,
Cerone, Daudjee ...), written as plain data here. Anomaly names are Elle's, except that
our item-level anomalies are called ``G-single`` / ``G-nonadjacent`` (Elle: ``-item``).
We use the lattice to turn a set of observed anomalies into the weakest models they rule
out (``not``) and the stronger ones ruled out with them (``also_not``).
"""

from __future__ import annotations

from collections.abc import Iterable

# a -> [b, ...]: if anomaly a is present, so is every b.
IMPLIED_ANOMALIES: dict[str, list[str]] = {
    "G0": ["G1c", "G0-process"],
    "G0-process": ["G1c-process", "G0-realtime"],
    "G0-realtime": ["G1c-realtime"],
    "G1a": ["G1"],
    "G1b": ["G1"],
    "G1c": ["G1", "G1c-process"],
    "G1c-process": ["G1c-realtime", "G1-process"],
    "G1c-realtime": ["G1-realtime"],
    "G1": ["G1-process"],
    "G1-process": ["G1-realtime"],
    # Our G-single is item-level (no predicates), as Elle's G-single-item.
    "G-single": ["G-nonadjacent", "GSIb", "G-single-process"],
    "G-single-process": ["G-nonadjacent-process", "G-single-realtime"],
    "G-single-realtime": ["G-nonadjacent-realtime"],
    "G-nonadjacent": ["G2-item", "G-nonadjacent-process"],
    "G-nonadjacent-process": ["G2-item-process", "G-nonadjacent-realtime"],
    "G-nonadjacent-realtime": ["G2-item-realtime"],
    "G2-item": ["G2", "G2-item-process"],
    "G2-item-process": ["G2-process", "G2-item-realtime"],
    "G2-item-realtime": ["G2-realtime"],
    "G2": ["G2-process"],
    "G2-process": ["G2-realtime"],
    "GSIa": ["GSI"],
    "GSIb": ["GSI"],
    "incompatible-order": ["G1a"],
    "future-read": ["G1c"],
    "dirty-update": ["G1a"],
    "lost-update": ["write-skew", "G2-item"],
    "write-skew": ["G2"],
}

# a -> [b, ...]: a history satisfying model a also satisfies every b.
MODEL_IMPLIES: dict[str, list[str]] = {
    "causal-cerone": ["read-atomic"],
    "consistent-view": ["cursor-stability", "monotonic-view"],
    "cursor-stability": ["read-committed"],
    "forward-consistent-view": ["consistent-view"],
    "read-committed": ["read-uncommitted"],
    "serializable": ["repeatable-read", "update-serializable", "snapshot-isolation"],
    "update-serializable": ["forward-consistent-view"],
    "monotonic-atomic-view": ["read-committed"],
    "monotonic-view": ["read-committed"],
    "monotonic-snapshot-read": ["read-committed"],
    "parallel-snapshot-isolation": ["causal-cerone", "update-atomic"],
    "prefix": ["causal-cerone"],
    "read-atomic": ["monotonic-atomic-view"],
    "repeatable-read": ["cursor-stability", "monotonic-atomic-view"],
    "update-atomic": ["read-atomic"],
    "snapshot-isolation": ["forward-consistent-view", "monotonic-atomic-view",
                           "monotonic-snapshot-read", "parallel-snapshot-isolation", "prefix"],
    "strict-serializable": ["serializable", "snapshot-isolation", "strong-snapshot-isolation",
                            "strong-session-serializable"],
    "strong-session-read-uncommitted": ["read-uncommitted"],
    "strong-session-read-committed": ["read-committed", "strong-session-read-uncommitted"],
    "strong-read-uncommitted": ["strong-session-read-uncommitted"],
    "strong-read-committed": ["strong-session-read-committed", "strong-read-uncommitted"],
    "strong-session-serializable": ["serializable", "strong-session-snapshot-isolation"],
    "strong-session-snapshot-isolation": ["snapshot-isolation", "strong-session-read-committed"],
    "strong-snapshot-isolation": ["strong-session-snapshot-isolation", "strong-read-committed"],
}

# model -> anomalies it forbids directly (weaker implied models add theirs).
PROSCRIBED: dict[str, list[str]] = {
    "causal-cerone": ["internal", "G1a"],
    "cursor-stability": ["G1", "G-cursor", "lost-update"],
    "monotonic-view": ["G1", "G-monotonic"],
    "monotonic-snapshot-read": ["G1", "G-MSR"],
    "consistent-view": ["G1", "G-single"],
    "forward-consistent-view": ["G1", "G-SIb"],
    "parallel-snapshot-isolation": ["internal", "G1a"],
    "serializable": ["G1", "G2", "internal", "PL-3-cycle-exists"],
    "read-committed": ["G1", "PL-2-cycle-exists"],
    "read-uncommitted": ["G0", "duplicate-elements", "cyclic-versions",
                         "PL-1-cycle-exists"],
    "prefix": ["internal", "G1a"],
    "snapshot-isolation": ["internal", "G1", "G-SI", "G-nonadjacent"],
    "read-atomic": ["internal", "G1a", "future-read"],
    "repeatable-read": ["G1", "G2-item", "lost-update", "PL-2.99-cycle-exists"],
    "update-atomic": ["lost-update"],
    "strict-serializable": ["G1", "G1c-realtime", "G2-realtime", "PL-SS-cycle-exists"],
    "strong-session-read-uncommitted": ["G0-process"],
    "strong-session-read-committed": ["G1c-process"],
    "strong-read-uncommitted": ["G0-realtime"],
    "strong-read-committed": ["G1c-realtime"],
    "strong-session-snapshot-isolation": ["internal", "G1-process", "G-nonadjacent-process"],
    "strong-snapshot-isolation": ["internal", "G1-realtime", "G-nonadjacent-realtime"],
    "strong-session-serializable": ["G1-process", "G2-process",
                                    "strong-session-serializable-cycle-exists"],
    "update-serializable": ["G1", "G-update"],
}

ALIASES: dict[str, str] = {
    "strong-serializable": "strict-serializable",
    "strict-1sr": "strict-serializable",
    "linearizable-serializable": "strict-serializable",
    "conflict-serializable": "serializable",
    "1sr": "serializable",
    "si": "snapshot-isolation",
    "rc": "read-committed",
    "ru": "read-uncommitted",
    "rr": "repeatable-read",
    "pl-1": "read-uncommitted",
    "pl-2": "read-committed",
    "pl-2+": "consistent-view",
    "pl-2.99": "repeatable-read",
    "pl-3": "serializable",
    "pl-si": "snapshot-isolation",
    "pl-ss": "strict-serializable",
    "pl-cs": "cursor-stability",
    "pl-fcv": "forward-consistent-view",
    "strong-session-si": "strong-session-snapshot-isolation",
    "strong-si": "strong-snapshot-isolation",
}

ALL_MODELS: frozenset[str] = frozenset(
    set(MODEL_IMPLIES) | {m for bs in MODEL_IMPLIES.values() for m in bs} | set(PROSCRIBED))

UNKNOWN_ANOMALIES = frozenset({"empty-transaction-graph", "cycle-search-timeout"})

# Fallbacks when naming a cycle takes too long: an SCC in the subgraph of these relations
# proves the model false (Elle's cycle-exists anomalies). (name, model, relation names)
CYCLE_EXISTS = [
    ("PL-1-cycle-exists", "read-uncommitted", ("ww",)),
    ("PL-2-cycle-exists", "read-committed", ("ww", "wr")),
    ("PL-2.99-cycle-exists", "repeatable-read", ("ww", "wr", "rw")),
    ("PL-3-cycle-exists", "serializable", ("ww", "wr", "rw")),
    ("strong-session-serializable-cycle-exists", "strong-session-serializable",
     ("ww", "wr", "rw", "process")),
    ("PL-SS-cycle-exists", "strict-serializable", ("ww", "wr", "rw", "realtime")),
]


def _closure(start: Iterable[str], edges: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(start)
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        stack.extend(edges.get(x, ()))
    return seen


def _reverse(edges: dict[str, list[str]]) -> dict[str, list[str]]:
    rev: dict[str, list[str]] = {}
    for a, bs in edges.items():
        for b in bs:
            rev.setdefault(b, []).append(a)
    return rev


_IMPLYING = _reverse(IMPLIED_ANOMALIES)
_MODEL_IMPLIED_BY = _reverse(MODEL_IMPLIES)
_PROSCRIBED_BY = _reverse(PROSCRIBED)


def canonical_model(name: str) -> str | None:
    """The canonical name of a model (``None`` if unknown); case- and ``_``-insensitive."""
    n = name.strip().lower().replace("_", "-")
    n = ALIASES.get(n, n)
    return n if n in ALL_MODELS else None


def implied_anomalies(anomalies: Iterable[str]) -> set[str]:
    """Every anomaly implied by the given ones (including themselves)."""
    return _closure(anomalies, IMPLIED_ANOMALIES)


def anomalies_implying(anomalies: Iterable[str]) -> set[str]:
    """Every anomaly whose presence would imply one of the given ones."""
    return _closure(anomalies, _IMPLYING)


def prohibited_anomalies(model: str) -> set[str]:
    """Anomalies that must be absent for ``model`` (a canonical name) to hold."""
    models = _closure([model], MODEL_IMPLIES)
    direct = {a for m in models for a in PROSCRIBED.get(m, ())}
    return anomalies_implying(direct)


def impossible_models(anomalies: Iterable[str]) -> set[str]:
    """Models that cannot hold given the observed anomalies."""
    direct = {m for a in implied_anomalies(anomalies) for m in _PROSCRIBED_BY.get(a, ())}
    return _closure(direct, _MODEL_IMPLIED_BY)


def boundary(anomalies: Iterable[str]) -> tuple[list[str], list[str]]:
    """(weakest ruled-out models, the other ruled-out models), both sorted."""
    imp = impossible_models(anomalies)
    weakest = {m for m in imp
               if not (_closure(MODEL_IMPLIES.get(m, ()), MODEL_IMPLIES) & imp)}
    return sorted(weakest), sorted(imp - weakest)
