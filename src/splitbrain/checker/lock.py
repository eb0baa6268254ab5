"""The lock checker: two holders at once, told apart by what the leases guaranteed.

A lock service with leases promises mutual exclusion only while a holder's lease
lasts. The lock workload's client contract: ``lock_acquire(name, lease_s)``
returns once the lock is held under a lease of at least ``lease_s`` seconds that
was granted (or refreshed) after the call began. For every acquire that returned
ok, a history then gives two windows of its process:

* the *certain* hold — the lock was held and the lease guaranteed it:

      from  the acquire's completion (the lock was held by then)
      until the earlier of: the invocation of that process's first release that
            did not certainly fail (after that the lock may be gone; a release that
            failed left it held), and the acquire's invocation + lease;

* the *believed* hold — from the acquire's completion until that same release
  (or the history's end): what a client that never checks its lease takes for
  "I hold the lock".

When another process is granted the lock inside someone's believed hold, the two
clients held it at once in some sense. The checker tells the two kinds apart:

* ``both-leases-valid`` — the two *certain* windows overlap: the service granted
  the lock while another holder's guaranteed lease was still running. A real
  safety bug: the history is **invalid**.
* ``lease-expired`` — the overlap exists only because a lease ran out: either the
  holder's lease bound had passed when the lock was granted again (the holder was
  paused, partitioned or slow to release), or the new holder was granted the lock
  only after its own lease bound had passed (a grant it could not use). That is
  what a lease lock does; it is unsafe only for clients that use the lock without
  checking their lease (Jepsen's etcd 2020 finding). Reported, not invalid.

Everything uncertain is left alone, so this check never calls a correct lease lock
invalid: an acquire that ended ``info`` or ``fail`` makes no holder. The strict
view — the lock as a perfect mutex, leases or not — is computed too, with the
linearizability checker's ``mutex`` model, and reported as information only
(``strict-mutex``): a lease lock is expected to fail it.

Needs op times (nanoseconds); without them the verdict is ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from splitbrain.checker.base import Checker, CheckResult
from splitbrain.history.ops import FAIL, INVOKE, NEMESIS, OK, Op
from splitbrain.verdict import UNKNOWN

MAX_REPORTED = 20
BOTH_VALID = "both-leases-valid"
LEASE_EXPIRED = "lease-expired"


def _hold(p: Any, inv: Op, done: Op, lease_ns: int) -> dict[str, Any]:
    return {"process": p, "start": done.time, "lease-end": inv.time + lease_ns,
            "acquire-index": inv.index, "acquired-index": done.index,
            "release-invoke": None, "release-index": None}


@dataclass(kw_only=True)
class LockResult(CheckResult):
    """Two holders at once, by kind: ``two_holders`` (both leases valid: invalid) and
    ``lease_expired`` (a lease ran out: reported in ``warning``, the run stays valid)."""

    kind: ClassVar[str] = "lock"

    lease_s: float = 0.0
    acquired: int = 0
    certain_windows: int = 0
    two_holders_count: int = 0
    two_holders: list[dict[str, Any]] = field(default_factory=list)
    lease_expired_count: int = 0
    lease_expired: list[dict[str, Any]] = field(default_factory=list)
    late_releases: int = 0
    strict_mutex: dict[str, Any] | None = None

    def blamed(self) -> list[int]:
        found = self.two_holders if self.two_holders else (
            self.lease_expired if self.valid is False else [])
        return [d["granted"]["acquired-index"] for d in found
                if isinstance(d, dict) and isinstance(d.get("granted"), dict)
                and isinstance(d["granted"].get("acquired-index"), int)]


class LockChecker(Checker):
    """Finds two holders at once and says whether both leases were still valid."""

    name = "lock"

    def __init__(self, lease_s: float, *, strict: bool = True,
                 expired_is_invalid: bool = False) -> None:
        self.lease_ns = int(lease_s * 1e9)
        self.strict = strict
        #: Jepsen's view (``-w mutex=strict``): a client that never checks its lease
        #: holds the lock until it releases, so a lease-expired re-grant is two holders
        self.expired_is_invalid = expired_is_invalid

    def holds(self, history: list[Op]) -> list[dict[str, Any]]:
        """Every ok acquire as ``{process, start, lease-end, release-invoke, ...}``, by start.

        ``release-invoke``: when the process invoked the first release after it that
        did not certainly fail (None: it never did); a release that failed
        definitely left the lock held, and its client still the holder.
        """
        ops = [op for op in history if op.process != NEMESIS and op.f in ("acquire", "release")]
        out: list[dict[str, Any]] = []
        pending: dict[Any, Op] = {}              # process -> its open acquire / release
        holding: dict[Any, dict[str, Any]] = {}  # process -> hold not yet released
        for op in ops:
            p = op.process
            if op.type == INVOKE:
                pending[p] = op
                h = holding.get(p)
                if op.f == "release" and h is not None and h["release-invoke"] is None:
                    h["release-invoke"], h["release-index"] = op.time, op.index
                continue
            inv = pending.pop(p, None)
            if inv is None or inv.f != op.f:
                continue
            if op.f == "acquire":
                if op.type == OK:
                    h = holding.pop(p, None)
                    if h is not None:
                        out.append(h)
                    holding[p] = _hold(p, inv, op, self.lease_ns)
            elif p in holding:
                if op.type == FAIL:     # certainly not released: still the holder
                    holding[p]["release-invoke"] = holding[p]["release-index"] = None
                else:                   # released, or maybe (a release never answered
                    out.append(holding.pop(p))   # counts from its invocation, too)
        out.extend(holding.values())
        return sorted(out, key=lambda h: (h["start"], h["acquired-index"]))

    @staticmethod
    def certain_end(h: dict[str, Any]) -> int:
        """Where the lease-guaranteed hold ends (it is empty when <= its start)."""
        rel = h["release-invoke"]
        return h["lease-end"] if rel is None else min(rel, h["lease-end"])

    def windows(self, history: list[Op]) -> list[dict[str, Any]]:
        """The certain-hold windows ``{process, start, end, acquire-index}`` (start < end)."""
        out = []
        for h in self.holds(history):
            end = self.certain_end(h)
            if h["start"] < end:
                w = {"process": h["process"], "start": h["start"], "end": end,
                     "acquire-index": h["acquire-index"], "acquired-index": h["acquired-index"]}
                if h["release-index"] is not None and h["release-invoke"] <= end:
                    w["release-index"] = h["release-index"]
                out.append(w)
        return out

    def double_holders(self, history: list[Op]) -> list[dict[str, Any]]:
        """Every grant inside another process's believed hold, with its kind."""
        holds = self.holds(history)
        horizon = max((op.time for op in history), default=0)
        found: list[dict[str, Any]] = []
        open_: list[dict[str, Any]] = []
        for h in holds:
            t = h["start"]
            open_ = [o for o in open_ if (o["release-invoke"] if o["release-invoke"] is not None
                                          else horizon + 1) > t]
            for o in open_:
                if o["process"] == h["process"]:
                    continue
                o_end, h_end = self.certain_end(o), self.certain_end(h)
                if t < o_end and t < h_end:
                    kind, why = BOTH_VALID, "granted while the holder's lease was still valid"
                elif t >= o["lease-end"]:
                    kind, why = LEASE_EXPIRED, (f"granted {(t - o['lease-end']) / 1e9:.3f}s "
                                                f"after the holder's lease bound")
                else:
                    kind, why = LEASE_EXPIRED, (f"granted {(t - h['lease-end']) / 1e9:.3f}s "
                                                f"after its own lease bound")
                found.append({"kind": kind, "why": why, "holder": _brief(o),
                              "granted": _brief(h), "at": t,
                              "overlap-ns": max(0, min(o_end, h_end) - t)})
            open_.append(h)
        return found

    def check(self, history: list[Op], *, time_limit: float | None = None) -> LockResult:
        relevant = [op for op in history if op.process != NEMESIS
                    and op.f in ("acquire", "release")]
        if relevant and not any(op.time for op in relevant):
            return LockResult(valid=UNKNOWN, error="the history has no op times: leases "
                                                   "cannot be reasoned about")
        ws = self.windows(history)
        doubles = self.double_holders(history)
        real = [d for d in doubles if d["kind"] == BOTH_VALID]
        expired = [d for d in doubles if d["kind"] == LEASE_EXPIRED]
        acquired = sum(1 for op in relevant if op.f == "acquire" and op.type == OK)
        late = sum(1 for op in relevant if op.f == "release" and op.type != INVOKE
                   and isinstance(op.value, dict) and op.value.get("lease-expired"))
        valid: bool | str = False if real or (expired and self.expired_is_invalid) else (
            True if acquired else UNKNOWN)
        out: dict[str, Any] = {
            "valid": valid, "lease-s": self.lease_ns / 1e9, "acquired": acquired,
            "certain-windows": len(ws),
            "two-holders-count": len(real), "two-holders": real[:MAX_REPORTED],
            "lease-expired-count": len(expired), "lease-expired": expired[:MAX_REPORTED],
            "late-releases": late,
        }
        if real:
            out["reason"] = (f"{len(real)} time(s) two clients held the lock at once while "
                             f"both leases were valid (a safety bug)")
        if expired and self.expired_is_invalid:
            out["reason"] = (f"{len(expired)} time(s) the lock was granted again while its "
                             f"holder, which never checks its lease, still held it (lease "
                             f"expired; invalid under -w mutex=strict)"
                             + (f"; and {out['reason']}" if real else ""))
        elif expired:
            out["warning"] = (f"{len(expired)} time(s) the lock was granted again after a "
                              f"lease ran out while its holder still thought it held the lock: "
                              f"the lock is a lease, unsafe for clients that do not check it")
        if not acquired:
            out["note"] = "no acquire succeeded: nothing to judge"
        if self.strict and acquired:
            out["strict-mutex"] = _strict_mutex(relevant, time_limit)
        return LockResult.from_json(out)


def _brief(h: dict[str, Any]) -> dict[str, Any]:
    return {"process": h["process"], "acquire-index": h["acquire-index"],
            "acquired-index": h["acquired-index"], "start": h["start"],
            "lease-end": h["lease-end"], "release-index": h["release-index"]}


def _strict_mutex(ops: list[Op], time_limit: float | None) -> dict[str, Any]:
    """The history as a perfect mutex (no leases): information, never the verdict."""
    try:
        from splitbrain.checker import linearizability

        res = linearizability.check(ops, "mutex", time_limit=time_limit)
    except Exception as e:  # noqa: BLE001 - information only
        return {"linearizable": "unknown", "error": f"{type(e).__name__}: {e}"}
    d = res.to_json()
    out: dict[str, Any] = {"linearizable": res.valid}
    if res.valid is False:
        fails = d.get("failures") or []
        if fails:
            out["failing-op"] = fails[0].get("failing_op")
        out["note"] = ("as a perfect mutex (no leases) the history is not linearizable; a "
                       "lease lock need not be: its leases run out (see lease-expired)")
    return out
