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
