"""splitbrain.nemesis: faults injected through Nodes and the system's lifecycle,
scheduled reproducibly from a seed, recorded as history ops, and always healed.

The runner calls :func:`build_nemesis` then ``run(stop)`` / ``heal()`` /
``current()``; the CLI calls :func:`recover_journals` at start and
:func:`heal_nodes` from ``splitbrain cluster heal``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["FAULTS", "NEMESIS_OPTIONS", "Nemesis", "build_nemesis", "check_options", "heal_nodes",
           "plan", "recover_journals"]

if TYPE_CHECKING:
    from splitbrain.nemesis.recovery import heal_nodes, recover_journals
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
    if name in ("heal_nodes", "recover_journals"):
        from splitbrain.nemesis import recovery
        return getattr(recovery, name)
    raise AttributeError(f"module 'splitbrain.nemesis' has no attribute {name!r}")
