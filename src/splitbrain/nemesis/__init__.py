"""splitbrain.nemesis: faults injected through Nodes and the system's lifecycle,
scheduled reproducibly from a seed, recorded as history ops, and always healed.

The runner calls :func:`build_nemesis` then ``run(stop)`` / ``heal()`` /
``current()``; ``splitbrain cluster heal`` calls :func:`heal_nodes`, and the
orchestrator's recovery of killed runs calls :func:`heal_entry`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["FAULTS", "NEMESIS_OPTIONS", "Nemesis", "build_nemesis", "check_options", "heal_entry",
           "heal_nodes", "plan"]

if TYPE_CHECKING:
    from splitbrain.nemesis.recovery import heal_entry, heal_nodes
    from splitbrain.nemesis.schedule import (
        FAULTS,
        NEMESIS_OPTIONS,
        Nemesis,
        build_nemesis,
        check_options,
        plan,
    )


def __getattr__(name: str) -> Any:
    """Import lazily so ``import splitbrain.nemesis`` stays light."""
    if name in ("FAULTS", "NEMESIS_OPTIONS", "Nemesis", "build_nemesis", "check_options", "plan"):
        from splitbrain.nemesis import schedule
        return getattr(schedule, name)
    if name in ("heal_entry", "heal_nodes"):
        from splitbrain.nemesis import recovery
        return getattr(recovery, name)
    raise AttributeError(f"module 'splitbrain.nemesis' has no attribute {name!r}")
