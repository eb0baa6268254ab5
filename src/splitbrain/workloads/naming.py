"""Run-unique key names, so a workload run against a reused cluster never reads
state left by an earlier run (a counter starting at 17 would look like a bug)."""

from __future__ import annotations

import secrets

from splitbrain.workloads.base import WorkloadConfig


def run_prefix(config: WorkloadConfig, workload: str) -> str:
    """``<workload>-<run id>-``: the run id is ``options["run-id"]`` if given, else random.

    Only key names depend on it, never which ops are generated, so a re-run with
    the same seed issues the same ops.
    """
    rid = config.options.get("run-id") or secrets.token_hex(3)
    return f"{workload}-{rid}-"


def int_option(config: WorkloadConfig, name: str, default: int, *, minimum: int = 1) -> int:
    """An integer workload option, validated with a one-line error."""
    from splitbrain.errors import HarnessError

    raw = config.options.get(name, default)
    try:
        v = int(raw)
    except (TypeError, ValueError):
        raise HarnessError(f"workload option {name}={raw!r}: expected an integer") from None
    if v < minimum:
        raise HarnessError(f"workload option {name}={v}: must be at least {minimum}")
    return v


def float_option(config: WorkloadConfig, name: str, default: float) -> float:
    """A positive float workload option, validated with a one-line error."""
    from splitbrain.errors import HarnessError

    raw = config.options.get(name, default)
    try:
        v = float(raw)
    except (TypeError, ValueError):
        raise HarnessError(f"workload option {name}={raw!r}: expected a number") from None
    if v <= 0:
        raise HarnessError(f"workload option {name}={v}: must be positive")
    return v
