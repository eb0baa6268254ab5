"""List-append inference: version orders from reads, non-cyclic anomalies, and ww/wr/rw edges.

Every key is a list; transactions append unique elements and read whole lists. A read
shows a prefix of the key's version order, so the longest read gives the order (Elle's
central trick). Appends never read are placed after the last element anyone observed.
"""

from __future__ import annotations

from collections import defaultdict
from operator import itemgetter
from typing import Any

from splitbrain.errors import HarnessError

from .graph import RW, WR, WW, DepGraph
from .txns import APPEND, READ, Txn

INIT = ("<init>",)
_key = itemgetter(1)  # the empty list: the version before the first append


def _hashable(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_hashable(e) for e in x)
    if isinstance(x, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in x.items()))
    return x


def _as_tuple(v: Any) -> tuple:
    """A read as a hashable tuple (nested lists become tuples)."""
    r = tuple(v)
    try:
        hash(r)
    except TypeError:
        r = tuple(_hashable(e) for e in v)
    return r


def _read_list(t: Txn, v: Any) -> tuple | None:
    """The list a read saw, or None when unknown (reads of info txns without a result)."""
    if v is None:
        return () if t.type == "ok" else None
    if not isinstance(v, (list, tuple)):
        raise HarnessError(f"op {t.index}: list-append read returned {v!r}, not a list; "
                           f"use --checker elle-rw-register for registers")
    return _as_tuple(v)


class ListAppend:
    """All list-append analyses of one history. ``possible`` txns (ok/info) are graph nodes.

    Reads are kept as the history's own lists, never copied: on a *clean* key (every
    read a prefix of the longest one, whose elements are hashable and distinct) that is
    all any analysis needs, and no read of it can hold duplicates. The other keys take
    the careful path: their reads become hashable tuples, compared pairwise.
    """

    def __init__(self, txns: list[Txn]) -> None:
        self.txns = txns
        self.possible = [t for t in txns if t.type != "fail"]
        self.anomalies: dict[str, list[dict]] = {}
        # One pass over every micro-op (the hot loop: kept flat). ``writer``: key ->
        # element -> the txn that appended it, whatever its outcome; ``reads``: reads of
        # possible txns as (txn, mop index, key, list seen).
        writer: dict[Any, dict[Any, Txn]] = {}
        reads: list[tuple[Txn, int, Any, Any]] = []
        by_key: dict[Any, list] = {}  # key -> the non-empty reads of it
        single: dict[Any, Any] = {}  # key -> its one non-failed append (INIT: several)
        failed: dict[tuple, Txn] = {}  # (key, element) appended by a failed txn
        intermediate: dict[tuple, Txn] = {}  # (key, element) its txn appended more after
        conflict = None
        repeats: list[Txn] = []  # txns touching some key twice (internal, future-read)
        for t in txns:
            possible = t.type != "fail"
            mops = t.mops
            last: dict[Any, Any] | None = None
            if len(mops) > 1 and len(set(map(_key, mops))) < len(mops):
                repeats.append(t)
                last = {}
            for i, (f, k, v) in enumerate(mops):
                if f == APPEND:
                    e = v if type(v) in (int, str) else _hashable(v)
                    wk = writer.get(k)
                    if wk is None:
                        writer[k] = {e: t}
                    else:
                        other = wk.setdefault(e, t)
                        if other is not t and conflict is None:
                            conflict = (k, e, other, t)
                    if possible:
                        single[k] = INIT if k in single else e
                    else:
                        failed[(k, e)] = t
                    if last is not None:
                        if k in last:
                            intermediate[(k, last[k])] = t
                        last[k] = e
                elif possible:
                    if type(v) is not list:
                        v = _read_list(t, v)
                        if v is None:
                            continue
                    reads.append((t, i, k, v))
                    if v:
                        rs = by_key.get(k)
                        if rs is None:
                            by_key[k] = [v]
                        else:
                            rs.append(v)
        if conflict is not None:
            k, e, other, t = conflict
            raise HarnessError(f"value {e!r} appended to key {k!r} by two transactions "
                               f"(ops {other.index} and {t.index}); list-append needs "
                               f"unique appends")
        self.writer = writer
        self.reads = reads
        self._failed = failed
        self._intermediate = intermediate
        self.repeats = repeats  # txns touching some key twice, in order
        self._orders(by_key, single)

    # ------------------------------------------------------------------ checks
    def _orders(self, by_key: dict[Any, list], single: dict[Any, Any]) -> None:
        """Each key's version order: its longest read (Elle's central trick)."""
        for k, v in single.items():
            if v is not INIT and k not in by_key:
                by_key[k] = [[v]]
        self.order: dict[Any, list] = {}
        self.position: dict[Any, dict[Any, int]] = {}
        self._slow: set[Any] = set()
        bad = []
        for k, rs in by_key.items():
            longest = max(rs, key=len)
            try:
                pos = {e: i for i, e in enumerate(longest)}
            except TypeError:
                pos = None
            if pos is not None and len(pos) == len(longest) and all(
                    r is longest or longest[:len(r)] == r for r in rs):
                self.order[k] = longest
                self.position[k] = pos
                continue
            # Careful path: distinct reads sorted by length, each a prefix of the next.
            self._slow.add(k)
            vals = sorted({_as_tuple(r) for r in rs}, key=len)
            for a, b in zip(vals, vals[1:], strict=False):
                if b[:len(a)] != a:
                    bad.append({"key": k, "values": [list(a), list(b)],
                                "explanation": f"reads of {k!r} saw {list(a)} and {list(b)}: "
                                               f"neither is a prefix of the other, so they "
                                               f"cannot come from one order of appends"})
                    break
            longest = list(dict.fromkeys(vals[-1]))
            self.order[k] = longest
            self.position[k] = {e: i for i, e in enumerate(longest)}
        if bad:
            self.anomalies["incompatible-order"] = bad
        if self._slow:
            slow = self._slow
            self.reads = [(t, i, k, _as_tuple(r)) if r and k in slow else (t, i, k, r)
                          for t, i, k, r in self.reads]

    def find_anomalies(self) -> dict[str, list[dict]]:
        """G1a, G1b, internal, future-read, duplicate-elements, dirty-update cases."""
        a = self.anomalies
        failed, intermediate, slow = self._failed, self._intermediate, self._slow
        g1a, g1b, dups = [], [], []
        failed_keys = {k for k, _ in failed}
        # Only reads of keys with failed appends can be G1a, only reads ending in an
        # intermediate element G1b, and only reads of non-clean keys hold duplicates.
        hot = failed_keys | {k for k, _ in intermediate} | slow
        for t, i, k, r in (self.reads if hot else ()):
            if k not in hot:
                continue
            mop = t.mops[i]
            if t.type == "ok":
                for e in (r if k in failed_keys else ()):
                    w = failed.get((k, e))
                    if w is not None:
                        g1a.append({"op": _brief(t), "writer": _brief(w), "mop": mop,
                                    "element": e,
                                    "explanation": f"T{t.index} read {k!r} = {list(r)}, which "
                                                   f"includes {e!r}, appended by T{w.index}, "
                                                   f"a transaction that failed (aborted)"})
                if r and intermediate:
                    w = intermediate.get((k, r[-1]))
                    if w is not None and w is not t:
                        g1b.append({"op": _brief(t), "writer": _brief(w), "mop": mop,
                                    "element": r[-1],
                                    "explanation": f"T{t.index} read {k!r} = {list(r)}, ending "
                                                   f"in {r[-1]!r}, which T{w.index} appended "
                                                   f"but then appended more to {k!r} in the same "
                                                   f"transaction: an intermediate state"})
            if k in slow and len(set(r)) != len(r):
                counts: dict[Any, int] = defaultdict(int)
                for e in r:
                    counts[e] += 1
                d = {e: c for e, c in counts.items() if c > 1}
                dups.append({"op": _brief(t), "mop": mop, "duplicates": [[e, c] for e, c in d.items()],
                             "explanation": f"T{t.index} read {k!r} = {list(r)}, with "
                                            f"{', '.join(repr(e) for e in d)} more than once, "
                                            f"though each element is appended only once"})
        for name, cases in (("G1a", g1a), ("G1b", g1b), ("duplicate-elements", dups)):
            if cases:
                a[name] = cases
        internal, future = [], []
        for t in self.repeats:
            if t.type == "ok":
                c = _internal_case(t)
                if c:
                    internal.append(c)
                c = _future_read_case(t)
                if c:
                    future.append(c)
        if internal:
            a["internal"] = internal
        if future:
            a["future-read"] = future
        du = self._dirty_updates(failed_keys)
        if du:
            a["dirty-update"] = du
        return a

    def _dirty_updates(self, failed_keys: set[Any]) -> list[dict]:
        """A committed append that follows an aborted one in some key's version order
        (only keys with a failed append can have one)."""
        cases = []
        for k, order in self.order.items():
            if k not in failed_keys:
                continue
            wk = self.writer.get(k, {})
            prev_type, prev_t, vs = "ok", None, []
            for e in order:
                t2 = wk.get(e)
                vs.append(e)
                if t2 is None:
                    continue
                pair = (prev_type, t2.type)
                if pair == ("fail", "ok"):
                    cases.append({"key": k, "values": list(vs),
                                  "txns": [_brief(prev_t), _brief(t2)],
                                  "explanation": f"T{t2.index} (committed) appended {e!r} to "
                                                 f"{k!r} on top of {vs[0]!r}, appended by "
                                                 f"T{prev_t.index}, which failed: a committed "
                                                 f"write built on aborted state"})
                if pair in (("ok", "ok"), ("info", "ok"), ("fail", "ok"), ("ok", "fail"),
                            ("info", "fail")):
                    prev_type, prev_t, vs = t2.type, t2, [e]
        return cases

    # ------------------------------------------------------------------ graph
    def prev_element(self, k: Any, e: Any) -> Any:
        """The element appended just before ``e`` to ``k`` (INIT for the first); an unread
        append comes after everything observed."""
        pos = self.position.get(k)
        order = self.order.get(k)
        if pos is not None and e in pos:
            i = pos[e]
            return order[i - 1] if i > 0 else INIT
        return order[-1] if order else INIT

    def add_edges(self, g: DepGraph) -> None:
        """ww, wr and rw edges between possible transactions (hot loop: kept flat).

        Edges go into each vertex's dict in a fixed order (wr by read, then ww and rw by
        appending txn), which fixes the order the cycle search explores them in.
        """
        writer = self.writer
        out = g.out
        empty: dict = {}
        # wr edges, and who read each version: key -> last element seen -> reader nodes.
        readers: dict[Any, dict[Any, list[int]]] = {}
        for t, _i, k, r in self.reads:
            n = t.node
            if r:
                x = r[-1]
                w = writer.get(k, empty).get(x)
                if w is not None and w is not t and w.type != "fail":
                    d = out[w.node]
                    d[n] = d.get(n, 0) | WR
            else:
                x = INIT
            rk = readers.get(k)
            if rk is None:
                readers[k] = {x: [n]}
            else:
                rx = rk.get(x)
                if rx is None:
                    rk[x] = [n]
                else:
                    rx.append(n)
        # ww and rw edges: each append follows the element before it in the key's order
        # (an unread append follows the last element anyone observed).
        position, order = self.position, self.order
        for t in self.possible:
            n = t.node
            for f, k, v in t.mops:
                if f != APPEND:
                    continue
                i = position.get(k, empty).get(v if type(v) in (int, str) else _hashable(v))
                if i is not None:
                    prev = order[k][i - 1] if i else INIT
                else:
                    ok = order.get(k)
                    prev = ok[-1] if ok else INIT
                if prev is not INIT:
                    w = writer[k].get(prev)
                    if w is not None and w is not t and w.type != "fail":
                        d = out[w.node]
                        d[n] = d.get(n, 0) | WW
                rk = readers.get(k)
                if rk is not None:
                    for rn in rk.get(prev, ()):
                        if rn != n:
                            d = out[rn]
                            d[n] = d.get(n, 0) | RW
        self._readers = readers

    def explain(self, a: Txn, b: Txn, rel: int) -> dict:
        """Why ``a -rel-> b``: key, values, and words (``b`` is named by its op index)."""
        wi = self.writer
        if rel == WR:
            for f, k, v in b.mops:
                if f == READ:
                    r = _read_list(b, v)
                    if r and wi.get(k, {}).get(r[-1]) is a:
                        return {"key": k, "value": r[-1],
                                "explanation": f"T{a.index} appended {r[-1]!r} to {k!r} and "
                                               f"T{b.index} read {k!r} with {r[-1]!r}, so "
                                               f"T{b.index} follows T{a.index} (wr)"}
        for f, k, v in b.mops:
            if f != APPEND:
                continue
            hv = _hashable(v)
            prev = self.prev_element(k, hv)
            if rel == WW and prev is not INIT and wi.get(k, {}).get(prev) is a:
                return {"key": k, "value": prev, "value'": hv,
                        "explanation": f"T{a.index} appended {prev!r} to {k!r} and T{b.index} "
                                       f"appended {hv!r} right after it, so T{b.index} follows "
                                       f"T{a.index} (ww)"}
            if rel == RW and a.node in self._readers.get(k, {}).get(prev, ()):
                seen = f"{k!r} as empty" if prev is INIT else f"{k!r} ending in {prev!r}"
                return {"key": k, "value": None if prev is INIT else prev, "value'": hv,
                        "explanation": f"T{b.index} appended {hv!r} to {k!r}; T{a.index} read "
                                       f"{seen}, without {hv!r}, so T{a.index} precedes "
                                       f"T{b.index} (rw)"}
        return {"explanation": f"T{a.index} precedes T{b.index}"}


def _brief(t: Txn | None) -> dict | None:
    if t is None:
        return None
    return {"txn": t.index, "process": t.process, "type": t.type, "value": t.mops}


def _internal_case(t: Txn) -> dict | None:
    """A read that disagrees with the transaction's own earlier reads and appends."""
    state: dict[Any, tuple[bool, list]] = {}  # key -> (prefix known?, expected elements)
    for f, k, v in t.mops:
        if f == APPEND:
            known, exp = state.get(k, (False, []))
            state[k] = (known, exp + [_hashable(v)])
        elif f == READ:
            r = list(_read_list(t, v) or ())
            if k in state:
                known, exp = state[k]
                ok = r == exp if known else (len(r) >= len(exp) and r[len(r) - len(exp):] == exp)
                if not ok:
                    shown = exp if known else ["..."] + exp
                    return {"op": _brief(t), "mop": [f, k, v], "expected": shown,
                            "explanation": f"T{t.index} read {k!r} = {r}, but its own earlier "
                                           f"reads and appends mean it should have seen "
                                           f"{shown}"}
            state[k] = (True, r)
    return None


def _future_read_case(t: Txn) -> dict | None:
    """A read that saw an element this same transaction appends only later."""
    read: dict[Any, list] = {}
    for f, k, v in t.mops:
        if f == READ:
            read.setdefault(k, []).append([f, k, v])
        elif f == APPEND and k in read:
            hv = _hashable(v)
            for mop in read[k]:
                if hv in (_read_list(t, mop[2]) or ()):
                    return {"op": _brief(t), "mop": mop, "element": v,
                            "explanation": f"T{t.index} read {k!r} containing {v!r} before "
                                           f"it appended {v!r} itself"}
    return None
