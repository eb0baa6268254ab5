"""The test spec: everything that says what one test runs, written once.

Each field carries its command-line flag and help (``opt``), so ``splitbrain test``'s
options, a campaign TOML file's keys (the field names, ``-`` or ``_``) and
``test.json`` (the whole spec, so ``--from test.json`` re-runs it exactly) all come
from this one class. :meth:`TestSpec.validate` refuses nonsense with one line that
names the option, before anything is created.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbrain.errors import HarnessError
from splitbrain.history.store import TEST

_UNSET: Any = object()


def opt(default: Any = _UNSET, help: str = "", *, flag: str | None = None,
        short: str | None = None, factory: Callable[[], Any] | None = None,
        cli: bool = True, kind: str | None = None, metavar: str | None = None) -> Any:
    """A spec field with its command-line face: ``flag`` (default ``--field-name``),
    an optional ``short`` flag, ``help``, and ``kind`` for fields the CLI parses
    specially (``list``: comma-separated; ``kv``: repeatable ``key=value``)."""
    meta = {"help": help, "flag": flag, "short": short, "cli": cli, "kind": kind,
            "metavar": metavar}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TestSpec:
    """What one test runs. Defaults are the default test (README)."""

    __test__ = False  # not a pytest class

    system: str = opt("raft", "etcd, zookeeper, raft, consul, or a plugin package.module:Class")
    backend: str = opt("auto", "docker, netns, ssh, local, or auto (docker where reachable, "
                       "else netns as root, else local); test.json records the one used")
    nodes: int = opt(3, "node count (with --backend ssh: a comma-separated host list)",
                     kind="nodes", metavar="N|HOSTS")
    hosts: list[str] = opt(factory=list, help="ssh: the hosts (set by --nodes or --nodes-file)",
                           cli=False)
    workload: str = opt("register", "register, counter, set, append, lock, bank, or a plugin "
                        "package.module:Class")
    nemesis: list[str] = opt(factory=lambda: ["partition"], kind="list",
                             help="comma-separated faults, e.g. partition,kill; none for none")
    nemesis_interval: float = opt(10.0, "seconds between a fault and its heal")
    nemesis_targets: str = opt("one", "one, minority, majority, all, leader")
    time_limit: float = opt(60.0, "seconds of the main phase")
    concurrency: int = opt(10, "client workers")
    rate: float = opt(100.0, "ops/s over all workers (0 = unlimited)")
    seed: int | None = opt(None, "random seed (default: random, recorded in test.json)")
    name: str | None = opt(None, "test name (default: system-workload-faults[-options])")
    store: str = opt("store", "store directory")
    options: dict[str, str] = opt(factory=dict, flag="--option", short="-o", kind="kv",
                                  help="system option key=value (repeatable)")
    workload_options: dict[str, str] = opt(factory=dict, flag="--workload-option", short="-w",
                                           kind="kv", help="workload option key=value "
                                           "(repeatable)")
    nemesis_options: dict[str, str] = opt(factory=dict, flag="--nemesis-option", short="-O",
                                          kind="kv", help="nemesis option key=value, e.g. "
                                          "loss=0.3, grudge_file=g.toml (repeatable)")
    ops_per_key: int = opt(200, "independent keys: ops before a key is retired")
    op_limit: int | None = opt(None, "stop the main phase after this many ops")
    recovery_time: float = opt(5.0, "seconds to wait after heal before the final phase")
    final_time_limit: float = opt(30.0, "seconds of the final phase (final reads)")
    leave_db_running: bool = opt(False, "do not tear the cluster down at the end")
    checker_time_limit: float | None = opt(60.0, "seconds each checker may take; past it "
                                           "the verdict is unknown")
    ssh_user: str = opt("root", "ssh: user")
    ssh_key: str | None = opt(None, "ssh: private key file")
    ssh_port: int = opt(22, "ssh: port")
    ssh_sudo: bool = opt(False, "ssh: run commands with sudo")
    ssh_accept_unknown_host_keys: bool = opt(False, "ssh: trust hosts missing from "
                                             "known_hosts")
    ssh_known_hosts: str | None = opt(None, "ssh: known_hosts file to check host keys "
                                      "against (default: ~/.ssh/known_hosts)")

    def resolved(self) -> TestSpec:
        """A validated copy with the seed and name filled in (what test.json records)."""
        s = dataclasses.replace(self, nemesis=list(self.nemesis), options=dict(self.options),
                                workload_options=dict(self.workload_options),
                                nemesis_options=dict(self.nemesis_options),
                                hosts=list(self.hosts))
        if s.hosts:
            s.nodes = len(s.hosts)
            if s.backend != "ssh":
                raise HarnessError(f"--nodes {','.join(s.hosts)}: a host list needs --backend "
                                   f"ssh (other backends take a node count)")
        elif s.backend == "ssh":
            raise HarnessError("--backend ssh needs hosts: --nodes host1,host2,... or "
                               "--nodes-file FILE")
        for f in ("ssh_key", "ssh_known_hosts"):   # recorded absolute: re-runs and
            v = getattr(s, f)                       # recovery start elsewhere
            if isinstance(v, str) and v:
                setattr(s, f, os.path.abspath(os.path.expanduser(v)))
        if s.seed is None:
            s.seed = random.SystemRandom().randrange(1, 2**31)
        if not s.name:
            faults = "+".join(s.nemesis) if s.nemesis else "none"
            s.name = f"{s.system.rsplit(':', 1)[-1].lower()}-{s.workload.rsplit(':', 1)[-1]}" \
                     f"-{faults}"
            if s.options:  # runs with a bug or mode switched on get their own directory
                s.name += "-" + "-".join(f"{k}-{v}" for k, v in sorted(s.options.items()))
            s.name = re.sub(r"[^A-Za-z0-9_.+-]+", "-", s.name).strip("-.")[:120] or "test"
        s.validate()
        return s

    def validate(self) -> None:
        """Reject nonsense with one line each, naming the option."""
        _count("--concurrency", self.concurrency, 1, 1000)
        _count("--nodes", self.nodes, 1, 99)
        _count("--ops-per-key", self.ops_per_key, 1)
        if self.op_limit is not None:
            _count("--op-limit", self.op_limit, 1)
        _seconds("--time-limit", self.time_limit)
        _seconds("--nemesis-interval", self.nemesis_interval)
        _seconds("--recovery-time", self.recovery_time, zero_ok=True)
        _seconds("--final-time-limit", self.final_time_limit)
        if self.checker_time_limit is not None:
            _seconds("--checker-time-limit", self.checker_time_limit)
        if not isinstance(self.rate, int | float) or isinstance(self.rate, bool) \
                or not math.isfinite(self.rate) or self.rate < 0:
            raise HarnessError(f"--rate {self.rate}: expected a number >= 0 (0 = unlimited)")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)
                                      or not 0 <= self.seed < 2**63):
            raise HarnessError(f"--seed {self.seed}: expected an integer from 0 to 2^63-1")
        if self.name is not None and not _NAME.fullmatch(self.name):
            raise HarnessError(f"--name {self.name!r}: use letters, digits, '_', '.', '+', '-' "
                               f"(at most 120, starting with a letter or digit)")
        for h in self.hosts:
            if not _HOST.fullmatch(h):
                raise HarnessError(f"--nodes {h!r}: not a host name or address "
                                   f"([user@]host[:port])")
        if not isinstance(self.ssh_port, int) or isinstance(self.ssh_port, bool) \
                or not 0 < self.ssh_port < 65536:
            raise HarnessError(f"--ssh-port {self.ssh_port}: expected a port from 1 to 65535")
        if not isinstance(self.ssh_user, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*",
                                                                  self.ssh_user):
            raise HarnessError(f"--ssh-user {self.ssh_user!r}: not a user name")
        for flag, path in (("--ssh-key", self.ssh_key), ("--ssh-known-hosts",
                                                         self.ssh_known_hosts)):
            if path is not None and self.backend == "ssh" and not os.path.isfile(path):
                raise HarnessError(f"{flag} {path}: no such file")
        for flag, d in (("-o", self.options), ("-w", self.workload_options),
                        ("-O", self.nemesis_options)):
            if not isinstance(d, dict) or not all(isinstance(k, str) for k in d):
                raise HarnessError(f"{flag}: expected key=value settings, got {d!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "spec") -> TestSpec:
        """Build a spec from test.json / a campaign table; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        d = {str(k).replace("-", "_"): v for k, v in d.items()}
        legacy_ssh = d.pop("ssh", None)  # test.json of versions before the flat ssh_* fields
        if isinstance(legacy_ssh, dict):
            for k, v in legacy_ssh.items():
                key = {"key_file": "ssh_key"}.get(k, f"ssh_{k}")
                if key in names and v is not None:
                    d.setdefault(key, v)
        unknown = sorted(set(d) - names)
        if unknown:
            raise HarnessError(f"{source}: unknown setting(s) {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(names))})")
        if isinstance(d.get("nemesis"), str):
            d["nemesis"] = parse_list(d["nemesis"])
        if isinstance(d.get("hosts"), str):
            d["hosts"] = parse_list(d["hosts"])
        for k in ("options", "workload_options", "nemesis_options"):
            if isinstance(d.get(k), dict):
                d[k] = {str(a): str(b) for a, b in d[k].items()}
        for f in dataclasses.fields(cls):
            if f.name in d:
                d[f.name] = _coerce(f, d[f.name], source)
        try:
            return cls(**d)
        except TypeError as e:
            raise HarnessError(f"{source}: {e}") from None

    @classmethod
    def load(cls, path: str | Path) -> TestSpec:
        """Read a spec from a ``test.json`` written by an earlier run."""
        p = Path(path)
        if p.is_dir():
            p = p / TEST
        try:
            data = json.loads(p.read_text())
        except FileNotFoundError:
            raise HarnessError(f"{p}: no such file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise HarnessError(f"{p}: cannot read: {e}") from None
        except json.JSONDecodeError as e:
            raise HarnessError(f"{p}:{e.lineno}: not valid JSON: {e.msg}") from None
        if not isinstance(data, dict):
            raise HarnessError(f"{p}: expected a JSON object with the test's settings")
        data.pop("splitbrain_version", None)
        data.pop("backend_requested", None)
        return cls.from_dict(data, str(p))


def spec_fields() -> list[dataclasses.Field]:
    """The fields a user can set on the command line, in declaration order."""
    return [f for f in dataclasses.fields(TestSpec) if f.metadata.get("cli", True)]


def flag_of(f: dataclasses.Field) -> str:
    """The long flag of a spec field (``--time-limit`` for ``time_limit``)."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _coerce(f: dataclasses.Field, v: Any, source: str) -> Any:
    """Check a value read from a file against the field's type (one line naming it)."""
    t = str(f.type)
    if v is None and "None" in t:
        return v
    if t.startswith("bool"):
        if isinstance(v, bool):
            return v
    elif t.startswith("int"):
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    elif t.startswith("float"):
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
    elif t.startswith("str"):
        if isinstance(v, str):
            return v
    elif t.startswith("list"):
        if isinstance(v, list):
            return [str(x) for x in v]
    elif t.startswith("dict"):
        if isinstance(v, dict):
            return v
    else:
        return v
    raise HarnessError(f"{source}: {f.name} = {v!r}: expected {t}")


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,119}")
_HOST = re.compile(r"(?:[A-Za-z0-9_.-]+@)?(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])"
                   r"(?::[0-9]{1,5})?")


def _count(flag: str, v: Any, lo: int, hi: int | None = None) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or (hi is not None and v > hi):
        rng = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
        raise HarnessError(f"{flag} {v}: expected a whole number {rng}")


def _seconds(flag: str, v: Any, *, zero_ok: bool = False) -> None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) \
        and (v >= 0 if zero_ok else v > 0) and v <= 7 * 86400
    if not ok:
        what = "at least 0" if zero_ok else "more than 0"
        raise HarnessError(f"{flag} {v}: expected seconds, {what} and at most a week")


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


def parse_nodes(raw: str) -> tuple[int, list[str]]:
    """``--nodes``: a count (``5``) or an ssh host list (``h1,h2,h3``)."""
    raw = raw.strip()
    if re.fullmatch(r"[+-]?[0-9]+", raw):
        n = int(raw)
        _count("--nodes", n, 1, 99)
        return n, []
    hosts = parse_list(raw)
    if not hosts:
        raise HarnessError(f"--nodes {raw!r}: expected a node count or a comma-separated "
                           f"host list")
    for h in hosts:
        if not _HOST.fullmatch(h):
            raise HarnessError(f"--nodes {h!r}: not a node count or a host name or address")
    return len(hosts), hosts
