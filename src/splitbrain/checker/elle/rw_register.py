"""Read/write-register inference, with the rules Elle documents.

Registers are overwritten blindly, so a read says only which write it saw (a wr edge).
Version orders come from: the initial state (``nil`` precedes every value); optionally
writes-follow-reads inside a transaction (``wfr_keys``); the process order
(``sequential_keys``) or the real-time order (``linearizable_keys``) when the system
promises per-key sequential consistency / linearizability. A source that would make a
key's version order cyclic is reported (``cyclic-versions``) and left out.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from splitbrain.errors import HarnessError

from .graph import RW, WR, WW, DepGraph, sccs
from .txns import READ, WRITE, Txn


def ext_reads(t: Txn) -> dict[Any, Any]:
    """Key -> value of reads that precede the transaction's own writes of that key."""
    out: dict[Any, Any] = {}
    written: set[Any] = set()
    for f, k, v in t.mops:
        if f == READ and k not in written and k not in out:
            out[k] = v
        elif f == WRITE:
            written.add(k)
    return out


def ext_writes(t: Txn) -> dict[Any, Any]:
    """Key -> the last value the transaction wrote to it."""
    return {k: v for f, k, v in t.mops if f == WRITE}


def _h(v: Any) -> Any:
    return tuple(_h(x) for x in v) if isinstance(v, list) else v


def realtime_pairs(txns: list[Txn]) -> list[tuple[Txn, Txn]]:
    """Pairs (a, b) with a completed before b began, reduced to each b's latest
    predecessors (Elle's frontier construction); info txns never complete."""
    events = []
    for t in txns:
        events.append((t.inv_pos, 1, id(t), t))
        if t.cmp_pos is not None:
            events.append((t.cmp_pos, 0, id(t), t))
    events.sort(key=lambda e: (e[0], e[1]))
    frontier: dict[int, Txn] = {}
    preds: dict[int, list[Txn]] = {}
    pairs = []
    for _pos, is_inv, tid, t in events:
        if is_inv:
            preds[tid] = list(frontier.values())
            pairs.extend((a, t) for a in preds[tid])
        else:
            for a in preds.get(tid, ()):
                frontier.pop(id(a), None)
            frontier[tid] = t
    return pairs


class RwRegister:
    """All rw-register analyses of one history."""

    def __init__(self, txns: list[Txn], *, wfr_keys: bool = False,
                 sequential_keys: bool = False, linearizable_keys: bool = False) -> None:
        self.txns = txns
        self.ok = [t for t in txns if t.type == "ok"]
        self.possible = [t for t in txns if t.type in ("ok", "info")]
        self.anomalies: dict[str, list[dict]] = {}
        self.reads = {id(t): ext_reads(t) for t in self.ok}
        self.writes = {id(t): ext_writes(t) for t in self.possible}
        self.write_index: dict[Any, dict[Any, Txn]] = defaultdict(dict)
        self.read_index: dict[Any, dict[Any, list[Txn]]] = defaultdict(lambda: defaultdict(list))
        seen: dict[tuple, Txn] = {}
        for t in self.txns:
            for f, k, v in t.mops:
                if f == WRITE:
                    if v is None:
                        raise HarnessError(f"op {t.index}: write of nil to {k!r}; rw-register "
                                           f"needs non-nil unique writes")
                    o = seen.get((k, _h(v)))
                    if o is not None and o is not t:
                        raise HarnessError(f"value {v!r} written to key {k!r} by two "
                                           f"transactions (ops {o.index} and {t.index}); "
                                           f"rw-register needs unique writes per key")
                    seen[(k, _h(v))] = t
        for t in self.ok:
            for k, v in self.writes[id(t)].items():
                self.write_index[k][_h(v)] = t
            for k, v in self.reads[id(t)].items():
                self.read_index[k][_h(v)].append(t)
        self.sources: list[str] = []
        self.versions: dict[Any, dict[Any, set]] = defaultdict(lambda: defaultdict(set))
        self._add_source("initial-state", self._initial_state())
        if wfr_keys:
            self._add_source("wfr-keys", self._wfr())
        if sequential_keys:
            self._add_source("sequential-keys", self._sequential())
        if linearizable_keys:
            self._add_source("linearizable-keys", self._linearizable())

    # --------------------------------------------------------------- versions
    def _initial_state(self) -> list[tuple[Any, Any, Any]]:
        out = []
        for t in self.possible:
            if t.type == "ok":
                for k, v in self.reads[id(t)].items():
                    if v is not None:
                        out.append((k, None, _h(v)))
            for k, v in self.writes[id(t)].items():
                out.append((k, None, _h(v)))
        return out

    def _wfr(self) -> list[tuple[Any, Any, Any]]:
        out = []
        for t in self.ok:
            w = self.writes[id(t)]
            for k, v in self.reads[id(t)].items():
                if v is not None and k in w:
                    out.append((k, _h(v), _h(w[k])))
        return out

    def _touch(self, t: Txn) -> tuple[dict, dict]:
        """(first version seen per key, last version per key) of a transaction."""
        r = self.reads.get(id(t), {})
        w = self.writes.get(id(t), {})
        first = {k: _h(v) for k, v in w.items()}
        first.update({k: _h(v) for k, v in r.items()})
        last = {k: _h(v) for k, v in r.items()}
        last.update({k: _h(v) for k, v in w.items()})
        return first, last

    def _by_key(self) -> dict[Any, list[tuple[Txn, Any, Any]]]:
        """Key -> [(txn, first version, last version)] for every possible txn touching it."""
        out: dict[Any, list[tuple[Txn, Any, Any]]] = defaultdict(list)
        for t in self.possible:
            first, last = self._touch(t)
            for k, v in first.items():
                out[k].append((t, v, last[k]))
        return out

    def _sequential(self) -> list[tuple[Any, Any, Any]]:
        """Per key and process, each txn's last version precedes the next one's first.
        (Process order restricted to a key is all we need: it is transitive.)"""
        out = []
        for k, touches in self._by_key().items():
            last: dict[Any, Any] = {}
            for t, first, final in touches:
                prev = last.get(t.process, _MISSING)
                if prev is not _MISSING and prev != first:
                    out.append((k, prev, first))
                last[t.process] = final
        return out

    def _linearizable(self) -> list[tuple[Any, Any, Any]]:
        """Per key, a txn's last version precedes the first version of every txn that
        began after it completed (real-time order restricted to the key, reduced)."""
        out = []
        for k, touches in self._by_key().items():
            fv = {id(t): (first, final) for t, first, final in touches}
            for a, b in realtime_pairs([t for t, _f, _l in touches]):
                va, vb = fv[id(a)][1], fv[id(b)][0]
                if va != vb:
                    out.append((k, va, vb))
        return out

    def _add_source(self, name: str, edges: list[tuple[Any, Any, Any]]) -> None:
        trial: dict[Any, dict[Any, set]] = {}
        for k, a, b in edges:
            if k not in trial:
                trial[k] = defaultdict(set, {v: set(s) for v, s in self.versions[k].items()})
            trial[k][a].add(b)
        cycles = []
        for k, vg in trial.items():
            ids: dict[Any, int] = {}
            for a, bs in vg.items():
                ids.setdefault(a, len(ids))
                for b in bs:
                    ids.setdefault(b, len(ids))
            g = DepGraph(len(ids))
            for a, bs in vg.items():
                for b in bs:
                    g.link(ids[a], ids[b], WW)
            names = {i: v for v, i in ids.items()}
            for comp in sccs(g, WW):
                cycles.append({"key": k, "scc": sorted((names[i] for i in comp), key=repr),
                               "sources": self.sources + [name],
                               "explanation": f"the version order of {k!r} inferred from "
                                              f"{', '.join(self.sources + [name])} is cyclic"})
        if cycles:
            self.anomalies.setdefault("cyclic-versions", []).extend(cycles)
            return
        self.sources.append(name)
        for k, vg in trial.items():
            self.versions[k] = vg

    # ---------------------------------------------------------------- checks
    def find_anomalies(self) -> dict[str, list[dict]]:
        """G1a, G1b, internal and lost-update cases."""
        failed: dict[tuple, Txn] = {}
        intermediate: dict[tuple, Txn] = {}
        for t in self.txns:
            last: dict[Any, Any] = {}
            for f, k, v in t.mops:
                if f == WRITE:
                    if t.type == "fail":
                        failed[(k, _h(v))] = t
                    if k in last:
                        intermediate[(k, last[k])] = t
                    last[k] = _h(v)
        g1a, g1b, internal = [], [], []
        for t in self.ok:
            state: dict[Any, Any] = {}
            bad = None
            for f, k, v in t.mops:
                if f == READ:
                    if v is not None and (k, _h(v)) in failed:
                        w = failed[(k, _h(v))]
                        g1a.append({"op": _brief(t), "writer": _brief(w), "mop": [f, k, v],
                                    "explanation": f"T{t.index} read {k!r} = {v!r}, written "
                                                   f"by T{w.index}, which failed (aborted)"})
                    w = intermediate.get((k, _h(v)))
                    if w is not None and w is not t:
                        g1b.append({"op": _brief(t), "writer": _brief(w), "mop": [f, k, v],
                                    "explanation": f"T{t.index} read {k!r} = {v!r}, which "
                                                   f"T{w.index} overwrote within the same "
                                                   f"transaction: an intermediate state"})
                    if bad is None and k in state and state[k] != _h(v):
                        bad = {"op": _brief(t), "mop": [f, k, v], "expected": state[k],
                               "explanation": f"T{t.index} read {k!r} = {v!r} after its own "
                                              f"read or write made it {state[k]!r}"}
                state[k] = _h(v)
            if bad:
                internal.append(bad)
        lost = lost_updates(self.ok, WRITE, lambda t, v: _h(v))
        for name, cases in (("G1a", g1a), ("G1b", g1b), ("internal", internal),
                            ("lost-update", lost)):
            if cases:
                self.anomalies[name] = cases
        return self.anomalies

    # ----------------------------------------------------------------- graph
    def add_edges(self, g: DepGraph) -> None:
        """wr edges from reads; ww and rw edges from every version-order edge."""
        wi, ri = self.write_index, self.read_index
        for k, by_v in ri.items():
            for v, readers in by_v.items():
                w = wi.get(k, {}).get(v)
                if w is not None:
                    for r in readers:
                        g.link(w.node, r.node, WR)
        for k, vg in self.versions.items():
            wk, rk = wi.get(k, {}), ri.get(k, {})
            for a, bs in vg.items():
                wa, ra = wk.get(a), rk.get(a, ())
                for b in bs:
                    wb = wk.get(b)
                    if wb is None:
                        continue
                    if wa is not None:
                        g.link(wa.node, wb.node, WW)
                    for r in ra:
                        g.link(r.node, wb.node, RW)

    def explain(self, a: Txn, b: Txn, rel: int) -> dict:
        """Why ``a -rel-> b``, in words."""
        wa, wb = self.writes.get(id(a), {}), self.writes.get(id(b), {})
        ra, rb = self.reads.get(id(a), {}), self.reads.get(id(b), {})
        if rel == WR:
            for k, v in rb.items():
                if k in wa and _h(wa[k]) == _h(v):
                    return {"key": k, "value": v,
                            "explanation": f"T{a.index} wrote {k!r} = {v!r} and T{b.index} "
                                           f"read it, so T{b.index} follows T{a.index} (wr)"}
        src = wa if rel == WW else ra
        for k, v in src.items():
            if k in wb and _h(wb[k]) in self.versions.get(k, {}).get(_h(v), ()):
                if rel == WW:
                    text = (f"T{a.index} wrote {k!r} = {v!r} and T{b.index} wrote {k!r} = "
                            f"{wb[k]!r}, which comes later in {k!r}'s version order, so "
                            f"T{b.index} follows T{a.index} (ww)")
                else:
                    text = (f"T{a.index} read {k!r} = {v!r}; T{b.index} wrote {k!r} = "
                            f"{wb[k]!r}, a later version T{a.index} did not see, so "
                            f"T{a.index} precedes T{b.index} (rw)")
                return {"key": k, "value": v, "value'": wb[k], "explanation": text}
        return {"explanation": f"T{a.index} precedes T{b.index}"}


_MISSING = object()


def _brief(t: Txn) -> dict:
    return {"txn": t.index, "process": t.process, "type": t.type, "value": t.mops}


def lost_updates(txns: list[Txn], write_f: str, norm: Any) -> list[dict]:
    """Two committed transactions that read the same version of a key and both wrote it."""
    groups: dict[tuple, list[Txn]] = defaultdict(list)
    for t in txns:
        if len(t.mops) < 2:
            continue  # one micro-op cannot both read and write
        reads: dict[Any, Any] = {}
        wrote: set[Any] = set()
        for f, k, v in t.mops:
            if f == write_f:
                if k in reads and k not in wrote:
                    groups[(k, norm(t, reads[k]))].append(t)  # normalised only if needed
                wrote.add(k)
            elif f == READ and k not in reads and k not in wrote:
                reads[k] = v
    out = []
    for (k, v), ts in groups.items():
        if len(ts) > 1:
            names = ", ".join(f"T{t.index}" for t in ts)
            out.append({"key": k, "value": v if not isinstance(v, tuple) else list(v),
                        "txns": [_brief(t) for t in ts],
                        "explanation": f"{names} all read the same version of {k!r} and each "
                                       f"wrote {k!r}: all but one of those updates was lost"})
    return out
