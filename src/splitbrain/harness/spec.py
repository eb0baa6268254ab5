"""The test spec: everything that says what one test runs.

The field names are the names of ``splitbrain test``'s options (with ``_`` for
``-``) and of a campaign TOML file's keys, and ``test.json`` stores the whole
spec so that ``splitbrain test --from test.json`` re-runs it exactly.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbrain.errors import HarnessError


@dataclass
class TestSpec:
    """What one test runs. Defaults are the default test (README)."""

    __test__ = False  # not a pytest class

    system: str = "raft"
    backend: str = "auto"            # docker where reachable, else netns (root), else local
    nodes: int = 3
    hosts: list[str] = field(default_factory=list)   # ssh backend: real hosts
    workload: str = "register"
    nemesis: list[str] = field(default_factory=lambda: ["partition"])
    nemesis_interval: float = 10.0
    nemesis_targets: str = "one"
    time_limit: float = 60.0
    concurrency: int = 10
    rate: float = 100.0              # ops/s over all workers; 0 = unlimited
    seed: int | None = None
    name: str | None = None
    store: str = "store"
    options: dict[str, str] = field(default_factory=dict)    # -o key=value for the system
    workload_options: dict[str, str] = field(default_factory=dict)  # -w key=value
    nemesis_options: dict[str, str] = field(default_factory=dict)   # -O key=value
    ops_per_key: int = 200
    op_limit: int | None = None
    recovery_time: float = 5.0
    final_time_limit: float = 30.0
    leave_db_running: bool = False
    checker_time_limit: float | None = 60.0
    ssh: dict[str, Any] = field(default_factory=dict)  # user, key_file, port, sudo, accept_unknown

    def resolved(self) -> TestSpec:
        """A copy with the seed and name filled in (what test.json records)."""
        s = dataclasses.replace(self, nemesis=list(self.nemesis), options=dict(self.options),
                                workload_options=dict(self.workload_options),
                                nemesis_options=dict(self.nemesis_options),
                                hosts=list(self.hosts), ssh=dict(self.ssh))
        if s.seed is None:
            s.seed = random.SystemRandom().randrange(1, 2**31)
        if not s.name:
            faults = "+".join(s.nemesis) if s.nemesis else "none"
            s.name = f"{s.system.rsplit(':', 1)[-1].lower()}-{s.workload}-{faults}"
            if s.options:  # runs with a bug or mode switched on get their own directory
                s.name += "-" + "-".join(f"{k}-{v}" for k, v in sorted(s.options.items()))
        s.validate()
        return s

    def validate(self) -> None:
        """Reject nonsense with one line each."""
        if self.concurrency < 1:
            raise HarnessError(f"--concurrency must be at least 1, got {self.concurrency}")
        if self.time_limit <= 0:
            raise HarnessError(f"--time-limit must be positive, got {self.time_limit}")
        if self.rate < 0:
            raise HarnessError(f"--rate must be >= 0 (0 = unlimited), got {self.rate}")
        if self.nodes < 1 and not self.hosts:
            raise HarnessError(f"--nodes must be at least 1, got {self.nodes}")
        if self.nemesis_interval <= 0:
            raise HarnessError(f"--nemesis-interval must be positive, got {self.nemesis_interval}")
        if self.ops_per_key < 1:
            raise HarnessError(f"--ops-per-key must be at least 1, got {self.ops_per_key}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "spec") -> TestSpec:
        """Build a spec from test.json / a campaign table; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k.replace("-", "_"): v for k, v in d.items()}
        unknown = sorted(set(d) - names)
        if unknown:
            raise HarnessError(f"{source}: unknown setting(s) {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(names))})")
        if isinstance(d.get("nemesis"), str):
            d["nemesis"] = parse_list(d["nemesis"])
        if isinstance(d.get("hosts"), str):
            d["hosts"] = parse_list(d["hosts"])
        try:
            spec = cls(**d)
        except TypeError as e:
            raise HarnessError(f"{source}: {e}") from None
        return spec

    @classmethod
    def load(cls, path: str | Path) -> TestSpec:
        """Read a spec from a ``test.json`` written by an earlier run."""
        p = Path(path)
        if p.is_dir():
            p = p / "test.json"
        try:
            data = json.loads(p.read_text())
        except FileNotFoundError:
            raise HarnessError(f"{p}: no such file") from None
        except json.JSONDecodeError as e:
            raise HarnessError(f"{p}:{e.lineno}: not valid JSON: {e.msg}") from None
        if not isinstance(data, dict):
            raise HarnessError(f"{p}: expected a JSON object with the test's settings")
        data.pop("splitbrain_version", None)
        return cls.from_dict(data, str(p))


def parse_list(s: str | list[str] | None) -> list[str]:
    """``"a,b, c"`` -> ``["a", "b", "c"]``; ``none``/empty -> ``[]``."""
    if s is None:
        return []
    if isinstance(s, list):
        return [str(x) for x in s]
    items = [x.strip() for x in s.split(",") if x.strip()]
    return [] if items in (["none"], ["off"]) else items


def parse_kv(pairs: list[str], flag: str = "-o") -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``, with a one-line error on bad input."""
    out: dict[str, str] = {}
    for p in pairs:
        if "=" not in p:
            raise HarnessError(f"{flag} {p}: expected key=value")
        k, v = p.split("=", 1)
        if not k.strip():
            raise HarnessError(f"{flag} {p}: empty key")
        out[k.strip()] = v.strip()
    return out
