"""The transaction dependency graph, its strongly connected components, and typed cycle search.

Vertices are ints: transactions first (``0..n_txn-1``), then auxiliary "clock" vertices.
The real-time order is represented by a chain of clock vertices, one per completion, so
that ``T1 -> clock(T1 completes) -> ... -> clock(last completion before T2 began) -> T2``.
A path through the chain is exactly one real-time edge, and the whole order costs O(n)
edges instead of O(n * concurrency). Everything is iterative: no recursion limits.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
REL_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}
DATA = WW | WR | RW


@dataclass
class DepGraph:
    """Adjacency as one ``{target: relation bitmask}`` dict per vertex."""

    n_txn: int
    out: list[dict[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.out:
            self.out = [{} for _ in range(self.n_txn)]

    def add_vertex(self) -> int:
        self.out.append({})
        return len(self.out) - 1

    def link(self, a: int, b: int, rel: int) -> None:
        """Add an ``a -rel-> b`` edge (self-edges are dropped: a txn never depends on itself)."""
        if a != b:
            d = self.out[a]
            d[b] = d.get(b, 0) | rel

    def edge_count(self, mask: int = -1) -> int:
        return sum(1 for d in self.out for m in d.values() if m & mask)


def sccs(g: DepGraph, mask: int, within: set[int] | None = None,
         rank: dict[int, int] | None = None) -> list[list[int]]:
    """Nontrivial strongly connected components of the subgraph of edges matching ``mask``.

    Iterative Tarjan over int vertices; ``within`` restricts it to a vertex set. If
    ``rank`` is given, it receives each vertex's component number in Tarjan's emission
    order (reverse topological: a component reachable from another is numbered lower).
    """
    n_comp = 0
    out = g.out
    n = len(out)
    index = [-1] * n if within is None else dict.fromkeys(within, -1)
    low = [0] * n if within is None else dict.fromkeys(within, 0)
    on_stack = bytearray(n) if within is None else dict.fromkeys(within, 0)
    stack: list[int] = []
    result: list[list[int]] = []
    counter = 0
    for root in (range(n) if within is None else sorted(within)):
        if index[root] >= 0:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = 1
        work = [(root, iter(out[root].items()))]
        while work:
            v, it = work[-1]
            advanced = False
            for w, m in it:
                if not m & mask or (within is not None and w not in within):
                    continue
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = 1
                    work.append((w, iter(out[w].items())))
                    advanced = True
                    break
                if on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                if low[v] < low[parent]:
                    low[parent] = low[v]
            if low[v] == index[v]:
                w = stack.pop()
                on_stack[w] = 0
                if rank is not None:
                    rank[w] = n_comp
                if w == v:
                    n_comp += 1
                    continue  # trivial component: no self-edges exist
                comp = [w]
                while w != v:
                    w = stack.pop()
                    on_stack[w] = 0
                    comp.append(w)
                    if rank is not None:
                        rank[w] = n_comp
                n_comp += 1
                result.append(comp)
    return result


@dataclass(frozen=True)
class CycleSpec:
    """What a cycle of one anomaly type may and must contain.

    ``free``: relations usable any number of times. ``counted``: relation (rw) whose
    count is constrained by ``mode`` (``"none"``, ``"one"``, ``"multi"``).
    ``nonadjacent``: counted edges may not follow each other; ``adjacent``: at least two
    must. ``required``: relations that must each appear at least once.
    """

    name: str
    free: int
    counted: int = 0
    mode: str = "none"
    nonadjacent: bool = False
    adjacent: bool = False
    required: tuple[int, ...] = ()


BASE_SPECS = [
    CycleSpec("G0", WW),
    CycleSpec("G1c", WW | WR, required=(WR,)),
    CycleSpec("G-single", WW | WR, RW, "one"),
    CycleSpec("G-nonadjacent", WW | WR, RW, "multi", nonadjacent=True),
    CycleSpec("G2-item", WW | WR, RW, "multi", adjacent=True),
]


def variant(spec: CycleSpec, rel: int) -> CycleSpec:
    """The ``-process`` / ``-realtime`` variant: may use, and must use, ``rel`` edges."""
    suffix = "-process" if rel == PROCESS else "-realtime"
    return CycleSpec(spec.name + suffix, spec.free | rel, spec.counted, spec.mode,
                     spec.nonadjacent, spec.adjacent, spec.required + (rel,))


CYCLE_SPECS = (BASE_SPECS + [variant(s, PROCESS) for s in BASE_SPECS]
               + [variant(s, REALTIME) for s in BASE_SPECS])
CYCLE_TYPES = frozenset(s.name for s in CYCLE_SPECS)


class SearchTimeout(Exception):
    """Raised when a cycle search passes the caller's deadline."""


class SearchBudget(Exception):
    """Raised when one search has explored its share of states (deterministic cut-off)."""


def _lowest_bit(m: int) -> int:
    return m & -m


def find_cycle(g: DepGraph, spec: CycleSpec, comp: set[int], deadline: float | None,
               budget: int = 500_000, max_anchors_after_hit: int = 4,
               parts: dict[int, list[list[int]]] | None = None,
               ) -> list[tuple[int, int, int]] | None:
    """Shortest-found cycle of type ``spec`` inside ``comp``, as ``[(a, b, rel), ...]``.

    The cycle is anchored on an edge of the constrained relation (``counted``, else the
    first ``required``, else any free edge); from the anchor's head a 0-1 BFS (clock
    vertices cost 0) looks for the way back, tracking how many counted edges were used,
    whether the last one was counted, and which required relations were seen.
    Returns ``None`` if there is none. Raises :class:`SearchTimeout` past ``deadline``
    and :class:`SearchBudget` after ``budget`` BFS steps without an answer.
    ``parts`` memoises the components of ``comp`` per relation mask across the specs
    searched in one component (several specs share a mask).
    """
    union = spec.free | spec.counted
    anchor_rel = spec.counted or (spec.required[0] if spec.required else spec.free)
    best: list[tuple[int, int, int]] | None = None
    extra = 0
    left = [budget]
    found = parts.get(union) if parts is not None else None
    if found is None:
        found = sccs(g, union, within=comp)
        if parts is not None:
            parts[union] = found
    for part in sorted(found, key=len):
        pset = set(part)
        anchors = [(u, v, _lowest_bit(m & anchor_rel)) for u in sorted(part)
                   for v, m in g.out[u].items() if m & anchor_rel and v in pset]
        if spec.mode == "one":
            # Only free edges lead back from v to u: impossible unless u's free-edge
            # component is reachable from v's (lower Tarjan rank), certain when they are
            # the same component; try the certain ones first.
            rk: dict[int, int] = {}
            sccs(g, spec.free, within=pset, rank=rk)
            anchors = [a for a in anchors if rk[a[0]] <= rk[a[1]]]
            anchors.sort(key=lambda a: rk[a[0]] != rk[a[1]])
        nbrs: dict[int, list] = {}  # per-vertex edges inside the part, shared by anchors
        for u, v, bit in anchors:
            if deadline is not None and time.monotonic() > deadline:
                raise SearchTimeout
            limit = _txn_len(g, best) if best is not None else None
            cyc = _bfs_close(g, spec, pset, u, v, bit, limit, left, nbrs)
            if cyc is not None and (best is None or _txn_len(g, cyc) < _txn_len(g, best)):
                best = cyc
            if best is not None:
                extra += 1
                if extra > max_anchors_after_hit or _txn_len(g, best) <= 2:
                    return best
            elif left[0] <= 0:
                raise SearchBudget
    return best


def _txn_len(g: DepGraph, cyc: list[tuple[int, int, int]]) -> int:
    return sum(1 for _, b, _ in cyc if b < g.n_txn)


def _req_bits(spec: CycleSpec, rel: int) -> int:
    """Which of ``spec.required`` (as bit positions) the relation ``rel`` satisfies."""
    b = 0
    for i, r in enumerate(spec.required):
        if rel & r:
            b |= 1 << i
    return b


def _edge_choices(spec: CycleSpec, m: int) -> tuple[tuple[int, int, int], ...]:
    """How an edge carrying relations ``m`` may be used: ``(rel, counted?, req bits)``
    as a free edge (a required relation preferred) and/or as a counted one."""
    choices = []
    free = m & spec.free
    if free:
        pick = 0
        for r in spec.required:
            if free & r:
                pick = r
                break
        choices.append((pick or _lowest_bit(free), 0))
    if m & spec.counted:
        choices.append((spec.counted, 1))
    return tuple((rel, c, _req_bits(spec, rel)) for rel, c in choices)


def _bfs_close(g: DepGraph, spec: CycleSpec, pset: set[int], u: int, v: int, anchor: int,
               limit: int | None, left: list[int],
               nbrs: dict[int, list] | None = None) -> list[tuple[int, int, int]] | None:
    """Find a path v ~> u so that u -anchor-> v closes a cycle satisfying ``spec``.

    ``nbrs`` caches each vertex's usable edges inside ``pset`` (same ``spec``), in
    ``g.out`` order, across calls. The hot loop: kept flat.
    """
    n_txn = g.n_txn
    out = g.out
    counted = spec.counted
    req_all = (1 << len(spec.required)) - 1
    if nbrs is None:
        nbrs = {}
    table: dict[int, tuple] = {}

    budget_slack = 0 if limit is None else 1 << 40  # improving a found cycle may overrun
    floor = -budget_slack
    a_is_c = 1 if anchor & counted else 0
    # state: (vertex, count(0..2), req bits, last_counted, adjacent_seen)
    start = (v, a_is_c, _req_bits(spec, anchor), a_is_c, 0)
    parent: dict[tuple, tuple | None] = {start: None}
    dist = {start: 0}
    dq: deque[tuple] = deque([start])
    popleft, append, appendleft = dq.popleft, dq.append, dq.appendleft
    one = spec.mode == "one"
    nonadjacent = spec.nonadjacent
    steps = left[0]
    try:
        while dq:
            st = popleft()
            steps -= 1
            if steps < floor:
                return None
            x, cnt, rb, last, adj = st
            d = dist[st]
            if limit is not None and d >= limit:
                continue
            edges = nbrs.get(x)
            if edges is None:
                edges = []
                for y, m in out[x].items():
                    if y in pset:
                        ch = table.get(m)
                        if ch is None:
                            ch = table[m] = _edge_choices(spec, m)
                        if ch:
                            edges.append((y, 1 if y < n_txn else 0, ch))
                nbrs[x] = edges
            for y, w, choices in edges:
                for rel, c, rbit in choices:
                    if c:
                        if (one and cnt) or (nonadjacent and last):
                            continue
                        ns = (y, cnt + 1 if cnt < 2 else 2, rb | rbit, 1, adj | last)
                    else:
                        ns = (y, cnt, rb | rbit, 0, adj)
                    if y == u:
                        # Closing: the anchor edge u -> v follows. (A simple cycle visits
                        # u once, so u is never an intermediate vertex.)
                        if _closes(spec, ns[1], ns[2], ns[3], ns[4], a_is_c, req_all):
                            path = [(x, y, rel)]
                            cur = st
                            while parent[cur] is not None:
                                prev, prel = parent[cur]
                                path.append((prev[0], cur[0], prel))
                                cur = prev
                            path.reverse()
                            return [(u, v, anchor)] + path
                        continue
                    nd = d + w
                    od = dist.get(ns)
                    if od is None or nd < od:
                        dist[ns] = nd
                        parent[ns] = (st, rel)
                        if w:
                            append(ns)
                        else:
                            appendleft(ns)
        return None
    finally:
        left[0] = steps


def _closes(spec: CycleSpec, cnt: int, rb: int, last: int, adj: int, a_is_c: int,
            req_all: int) -> bool:
    if rb != req_all:
        return False
    if spec.mode == "one" and cnt != 1:
        return False
    if spec.mode == "multi" and cnt < 2:
        return False
    if spec.mode == "none" and cnt:
        return False
    if spec.nonadjacent and last and a_is_c:
        return False
    if spec.adjacent and not (adj or (last and a_is_c)):
        return False
    return True


def collapse(g: DepGraph, cyc: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Turn a vertex-level cycle into transaction steps: runs through clock vertices
    become one real-time step. Rotated so that it starts at a transaction."""
    n = g.n_txn
    k = next(i for i, (a, _, _) in enumerate(cyc) if a < n)
    cyc = cyc[k:] + cyc[:k]
    steps: list[tuple[int, int, int]] = []
    i = 0
    while i < len(cyc):
        a, b, rel = cyc[i]
        if b < n:
            steps.append((a, b, rel))
            i += 1
            continue
        j = i
        while cyc[j][1] >= n:
            j += 1
        steps.append((a, cyc[j][1], REALTIME))
        i = j + 1
    return steps
