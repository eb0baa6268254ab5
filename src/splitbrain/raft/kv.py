"""The replicated key-value state machine: keys, client sessions, locks.

Commands are dicts applied in log order on every replica, so everything here is
deterministic (lock leases use the timestamp the leader stamped into the command,
never the local clock). Client sessions give exactly-once writes: a command carrying
``client``/``seq`` that was already applied returns the cached result (Raft
dissertation §6.3). The ``no-dedup`` bug switch disables that check.
"""

from __future__ import annotations

import copy
from typing import Any

SESSION_WINDOW = 64      # results remembered per client (allows a few concurrent requests)
MAX_SESSIONS = 20000     # oldest-used sessions are evicted deterministically beyond this


class CommandError(Exception):
    """A command that was applied but rejected by the state machine (e.g. bad txn op)."""


class KVStore:
    """Key -> JSON value map with sessions and leased locks."""

    def __init__(self, dedup: bool = True) -> None:
        self.data: dict[str, Any] = {}
        self.sessions: dict[str, dict] = {}   # client -> {"used": index, "results": {seq: res}}
        self.locks: dict[str, dict] = {}      # name -> {"owner", "token", "expires"}
        self.dedup = dedup
        # client -> its results are keyed in ascending seq order (not in snapshots:
        # derived, and recomputed on demand after a restore)
        self._ascending: dict[str, bool] = {}

    # ------------------------------------------------------------- snapshots
    def snapshot(self) -> dict:
        return {"data": self.data, "sessions": self.sessions, "locks": self.locks}

    def restore(self, snap: dict) -> None:
        snap = copy.deepcopy(snap)
        self.data = snap["data"]
        self.sessions = snap["sessions"]
        self.locks = snap["locks"]
        self._ascending = {}

    # ----------------------------------------------------------------- apply
    def apply(self, index: int, cmd: dict) -> Any:
        """Apply one committed command; returns its result (a JSON value)."""
        op = cmd.get("op")
        if op in ("noop", "config"):
            return None
        client, seq = cmd.get("client"), cmd.get("seq")
        sess = None
        if client is not None and seq is not None:
            sess = self.sessions.get(client)
            if sess is not None and self.dedup:
                results = sess["results"]
                if str(seq) in results:
                    return results[str(seq)]
                if (len(results) >= SESSION_WINDOW and seq < int(next(iter(results)))
                        and seq < min(map(int, results))):  # (the first key is >= the min)
                    return {"error": "session expired for this sequence number",
                            "definite": False}
        try:
            result = self._apply(index, op, cmd)
        except CommandError as e:
            result = {"error": str(e), "definite": True}
        if client is not None and seq is not None:
            if sess is None:
                sess = self.sessions[client] = {"used": index, "results": {}}
                self._ascending[client] = True
            sess["used"] = index
            results = sess["results"]
            if results and self._ascending.get(client) and seq < int(next(reversed(results))):
                self._ascending[client] = False
            results[str(seq)] = result
            if len(results) > SESSION_WINDOW:
                del results[self._oldest_seq(client, results)]
            if len(self.sessions) > MAX_SESSIONS:
                oldest = min(self.sessions, key=lambda c: self.sessions[c]["used"])
                del self.sessions[oldest]
                self._ascending.pop(oldest, None)
        return result

    def _oldest_seq(self, client: str, results: dict[str, Any]) -> str:
        """The key of the smallest seq remembered for ``client``: the first key when the
        session is known to be in ascending order (the usual case: no scan)."""
        asc = self._ascending.get(client)
        if asc is None:
            keys = list(map(int, results))
            asc = self._ascending[client] = keys == sorted(keys)
        if asc:
            return next(iter(results))
        return str(min(map(int, results)))

    def _apply(self, index: int, op: str | None, cmd: dict) -> Any:
        if op == "put":
            self.data[cmd["key"]] = cmd["value"]
            return {"ok": True}
        if op == "delete":
            existed = cmd["key"] in self.data
            self.data.pop(cmd["key"], None)
            return {"ok": True, "deleted": existed}
        if op == "cas":
            return self._cas(cmd)
        if op == "txn":
            return {"ok": True, "results": self._txn(cmd["ops"])}
        if op == "lock_acquire":
            return self._lock_acquire(index, cmd)
        if op == "lock_release":
            lk = self.locks.get(cmd["name"])
            if lk is not None and lk["token"] == cmd["token"]:
                del self.locks[cmd["name"]]
                return {"ok": True, "released": True}
            return {"ok": True, "released": False}
        raise CommandError(f"unknown operation {op!r}")

    def _cas(self, cmd: dict) -> dict:
        key = cmd["key"]
        present = key in self.data
        current = self.data.get(key)
        if cmd.get("create_only"):
            ok = not present
        else:
            ok = present and current == cmd["expected"]
        if ok:
            self.data[key] = cmd["new"]
        return {"ok": True, "succeeded": ok, "value": current, "found": present}

    def _txn(self, ops: list) -> list:
        for o in ops:
            if not (isinstance(o, list) and len(o) == 3 and o[0] in ("r", "w", "append")):
                raise CommandError(f"bad micro-op {o!r}: want [\"r\"|\"w\"|\"append\", key, value]")
        out = []
        for f, k, v in ops:
            if f == "r":
                out.append([f, k, copy.deepcopy(self.data.get(k))])
            elif f == "w":
                self.data[k] = v
                out.append([f, k, v])
            else:
                cur = self.data.get(k)
                if cur is None:
                    cur = []
                elif not isinstance(cur, list):
                    cur = [cur]
                self.data[k] = cur + [v]
                out.append([f, k, v])
        return out

    def _lock_acquire(self, index: int, cmd: dict) -> dict:
        name, owner, now = cmd["name"], cmd["owner"], cmd["ts"]
        lk = self.locks.get(name)
        if lk is not None and lk["expires"] > now and lk["owner"] != owner:
            return {"ok": True, "acquired": False, "holder": lk["owner"],
                    "expires_in": lk["expires"] - now}
        token = index  # log index: strictly increasing, usable as a fencing token
        self.locks[name] = {"owner": owner, "token": token, "expires": now + cmd["lease_s"]}
        return {"ok": True, "acquired": True, "token": token}

    # ------------------------------------------------------------------ reads
    def get(self, key: str) -> dict:
        return {"ok": True, "value": copy.deepcopy(self.data.get(key)), "found": key in self.data}
