"""Clock faults: bump or strobe the wall clock a node's daemon sees, with libfaketime.

The daemon runs with ``LD_PRELOAD=libfaketime`` reading its offset from
``<work_dir>/faketime`` on every call (``FAKETIME_NO_CACHE=1``), so the nemesis
skews the clock by rewriting that file, with no restart; ``+0`` is the real
time. The monotonic clock is left alone, like a real wall-clock step.

Only daemons that read time through libc can be fooled (not Go programs such as
etcd or Consul); a system declares it by listing ``clock`` in ``supports``.
Until the System interface has a start-environment hook, :func:`prepare` wraps
each node's ``start_daemon`` so that the system's own ``start`` passes the env.
"""

from __future__ import annotations

import random
import shlex
import time
from typing import Any

from splitbrain.clusters.node import Node
from splitbrain.errors import HarnessError
from splitbrain.nemesis.fault import Context, Fault, each, pick_targets

STROBE_DAEMON = "splitbrain-clock-strobe"
_LIB_GLOB = ("/usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 "
             "/usr/local/lib/faketime/libfaketime.so.1")


def offset_file(node: Node) -> str:
    return f"{node.work_dir}/faketime"


def env_file(node: Node) -> str:
    """Where the env a daemon needs for a skewable clock is written (``KEY=value`` lines)."""
    return f"{node.work_dir}/faketime.env"


def find_libfaketime(node: Node) -> str | None:
    """Path of libfaketime on ``node``, or None."""
    r = node.exec(["sh", "-c", f"for f in {_LIB_GLOB}; do [ -e \"$f\" ] && echo \"$f\" && "
                               f"break; done"], check=False, timeout=30)
    out = r.stdout.strip()
    return out or None


def faketime_env(node: Node, lib: str) -> dict[str, str]:
    """The environment that makes a daemon on ``node`` read our offset file."""
    return {"LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": offset_file(node),
            "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def set_offset(node: Node, seconds: float) -> None:
    """Make the daemon on ``node`` see real time + ``seconds``."""
    node.write_file(offset_file(node), f"{seconds:+g}\n")


def daemon_has_faketime(node: Node, daemon: str) -> bool | None:
    """Whether the running daemon was started with libfaketime (None if not running)."""
    pid = node.daemon_pid(daemon)
    if pid is None:
        return None
    r = node.exec(["sh", "-c", f"tr '\\0' '\\n' < /proc/{pid}/environ | grep -q "
                               f"'^LD_PRELOAD=.*libfaketime'"], check=False, timeout=30)
    return r.rc == 0


def install_start_env(node: Node, env: dict[str, str]) -> None:
    """Make every later ``node.start_daemon`` pass ``env`` (the system's own env wins)."""
    if getattr(node, "_splitbrain_faketime", None) is not None:
        node._splitbrain_faketime = env  # type: ignore[attr-defined]
        return
    original = node.start_daemon
    node._splitbrain_faketime = env  # type: ignore[attr-defined]
    node._splitbrain_start_daemon = original  # type: ignore[attr-defined]

    def start_daemon(daemon: str, cmd: list[str], *, log_file: str | None = None,
                     env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        extra = node._splitbrain_faketime if daemon != STROBE_DAEMON else {}  # type: ignore[attr-defined]
        original(daemon, cmd, log_file=log_file, env={**extra, **(env or {})}, cwd=cwd)
    node.start_daemon = start_daemon  # type: ignore[method-assign]


def wait_for_faketime(system: Any, node: Node, timeout: float = 15.0) -> None:
    """Wait until ``system``'s daemon on ``node`` runs under libfaketime; else say why not.

    Right after a start the recorded pid may still be the shell that is about to exec
    the daemon (its environment is not the daemon's yet), and on a loaded host that
    takes a while: poll, and tell a daemon that died from one started without our env.
    """
    deadline = time.monotonic() + timeout
    state: bool | None = None
    while time.monotonic() < deadline:
        state = daemon_has_faketime(node, system.daemon)
        if state:
            return
        time.sleep(0.2)
    if state is None:
        logs = system.log_files(node)
        tail = node.exec(["sh", "-c", f"tail -n 3 {shlex.quote(logs[0])} 2>/dev/null"],
                         check=False).stdout.strip().replace("\n", " | ") if logs else ""
        raise HarnessError(f"the clock fault restarted {system.name} on {node.name} under "
                           f"libfaketime and it exited: {tail[-300:] or 'no log output'}")
    raise HarnessError(f"the clock fault could not start {system.name} on {node.name} under "
                       f"libfaketime: its start() must use Node.start_daemon")


def reset_clock(node: Node) -> bool:
    """Stop a strobe and put the offset back to +0; True if there was a skew to undo."""
    node.stop_daemon(STROBE_DAEMON, timeout=5)
    r = node.exec(["sh", "-c", f"f={shlex.quote(offset_file(node))}; [ -f \"$f\" ] || exit 0; "
                               f"grep -qx '+0' \"$f\" || {{ echo '+0' > \"$f\"; echo reset; }}"],
                  check=False, timeout=30)
    return "reset" in r.stdout


class Clock(Fault):
    """Bump a node's clock by an offset, or strobe it between two values."""

    name = "clock"
    needs = "clock"
    options = ("clock_max_skew_s",)
    start_f = "start-clock"
    stop_f = "stop-clock"

    def __init__(self, ctx: Context, name: str | None = None) -> None:
        super().__init__(ctx, name)
        raw = ctx.options.get("clock_max_skew_s", "60")
        try:
            self.max_skew = float(raw)
        except ValueError:
            raise HarnessError(f"nemesis option clock_max_skew_s={raw}: expected seconds") from None
        if self.max_skew < 1:
            raise HarnessError(f"nemesis option clock_max_skew_s={raw}: must be at least 1")
        self.libs: dict[str, str] = {}

    def check(self) -> None:
        sys_ = self.ctx.system
        if sys_ is not None and "clock" not in sys_.supports:
            raise HarnessError(f"system {sys_.name!r} can't be given a skewed clock (it does not "
                               f"list 'clock' in supports; libfaketime only reaches daemons that "
                               f"read time through libc): drop the clock fault")
        for n in self.ctx.nodes:
            lib = find_libfaketime(n)
            if lib is None:
                raise HarnessError(f"the clock fault needs libfaketime on the nodes, missing on "
                                   f"{n.name}: install the Debian package faketime there")
            self.libs[n.name] = lib

    def prepare(self) -> None:
        """Start every node's daemon under libfaketime (restarting it if it runs without)."""
        sys_ = self.ctx.system
        assert sys_ is not None
        for n in self.ctx.nodes:        # a rolling restart: the cluster keeps its majority
            set_offset(n, 0)
            env = faketime_env(n, self.libs.get(n.name) or find_libfaketime(n) or "")
            n.write_file(env_file(n), "".join(f"{k}={v}\n" for k, v in env.items()))
            install_start_env(n, env)
            if daemon_has_faketime(n, sys_.daemon) is False:
                sys_.stop(n)
                pid = n.daemon_pid(sys_.daemon)
                if pid is not None:          # still going after stop: make sure it is gone
                    sys_.kill(n)
                sys_.start(n)
                wait_for_faketime(sys_, n)
                sys_.wait_healthy()

    def choose(self, rng: random.Random, names: list[str]) -> dict[str, Any]:
        mode = rng.choice(["bump", "strobe"])
        skew = round(rng.uniform(1.0, self.max_skew), 3) * rng.choice([-1, 1])
        out: dict[str, Any] = {"mode": mode, "targets": pick_targets(rng, names, self.ctx.targets),
                               "fallback": rng.choice(names), "offset_s": skew}
        if mode == "strobe":
            out["period_ms"] = rng.choice([10, 50, 100, 250])
        return out

    def resolve(self, choice: dict[str, Any]) -> dict[str, Any]:
        if choice["targets"] == "leader":
            ld = self.ctx.leader()
            nodes = [ld if ld is not None else choice["fallback"]]
        else:
            nodes = list(choice["targets"])
        d = {k: v for k, v in choice.items() if k not in ("targets", "fallback")}
        d["nodes"] = nodes
        return d

    def apply(self, detail: dict[str, Any]) -> Any:
        off = detail["offset_s"]

        def go(n: Node) -> None:
            if detail["mode"] == "bump":
                set_offset(n, off)
                return
            half = detail["period_ms"] / 2000.0
            f = shlex.quote(offset_file(n))
            loop = (f"while :; do echo '+0' > {f}; sleep {half:g}; echo '{off:+g}' > {f}; "
                    f"sleep {half:g}; done")
            starter = getattr(n, "_splitbrain_start_daemon", n.start_daemon)
            starter(STROBE_DAEMON, ["sh", "-c", loop])
        each([self.ctx.node(x) for x in detail["nodes"]], go)
        return {"nodes": detail["nodes"], "mode": detail["mode"], "offset_s": off,
                **({"period_ms": detail["period_ms"]} if "period_ms" in detail else {})}

    def heal(self, detail: dict[str, Any]) -> Any:
        each([self.ctx.node(x) for x in detail["nodes"]], reset_clock)
        return {"nodes": detail["nodes"], "offset_s": 0}

    def describe(self, detail: dict[str, Any]) -> str:
        return f"clock {detail['mode']} {detail['offset_s']:+g}s {' '.join(detail['nodes'])}"
