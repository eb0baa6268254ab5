"""The ``bank`` workload: transfers between accounts; the total never changes.

Our clients' ``txn`` has no compare, so a read-then-write transfer split over two
txns would lose updates legitimately (and change the total without any bug). Two
sound designs instead, chosen with ``-w bank-mode``:

* ``cas`` (default; needs read + cas): every balance lives in one key, a JSON map
  ``{account: balance}``. A transfer reads the map, refuses (``fail``) if the
  source lacks the amount, and writes the new map with ``cas(key, seen, new)``,
  retrying refused cas (:mod:`splitbrain.workloads.cas_update`). Atomic by
  construction, so a read must show the initial total and no negative balance. A
  missing key is the bank before its first use: the first transfer creates it,
  with itself applied, by ``cas(key, None, new)`` (create only if absent).
* ``txn`` (needs txn): each account is a list of signed deltas; a transfer is ONE
  txn appending ``-amount`` to the source and ``+amount`` to the destination, and
  a read is one txn reading every account (balance = initial + sum of deltas).
  The total holds only if txns are atomic and reads are snapshots, which is what
  this mode tests. Transfers here are unconditional (a conditional one would need
  a compare), so balances may go negative legitimately and only the total is
  checked.

Op shapes: ``transfer {"from": a, "to": b, "amount": n}``; ``read`` and, after
heal, ``final-read``, whose completion value is ``{account: balance}`` (None in
cas mode before the bank exists).
"""

from __future__ import annotations

import random
from typing import Any

from splitbrain.checker.bank import BankChecker
from splitbrain.checker.base import Checker
from splitbrain.checker.stats import StatsChecker
from splitbrain.clusters.system import CAS, READ, TXN, Client
from splitbrain.errors import ClientError, HarnessError
from splitbrain.workloads.base import IntAtLeast, Workload, WorkloadConfig, WorkloadOption
from splitbrain.workloads.cas_update import Declined, cas_update
from splitbrain.workloads.generator import EachWorker, Generator, Mix, Once, OpSpec
from splitbrain.workloads.naming import run_prefix

MODES = ("cas", "txn")


class BankWorkload(Workload):
    """Transfers and reads of N accounts; every read must show the initial total."""

    name = "bank"
    requires = frozenset({READ, CAS})
    options = {
        "bank-mode": WorkloadOption("cas", "cas: all balances in one key, updated by cas "
                                    "(needs read, cas); txn: one txn per transfer (needs txn)",
                                    choices=MODES),
        "key-count": WorkloadOption(5, "accounts", IntAtLeast(2)),
        "initial-balance": WorkloadOption(10, "each account's opening balance", IntAtLeast(0)),
        "max-transfer": WorkloadOption(5, "largest amount one transfer moves", IntAtLeast(1)),
        "max-retries": WorkloadOption(10, "refused cas attempts of one transfer before it fails",
                                      IntAtLeast(1)),
    }

    def __init__(self, config: WorkloadConfig) -> None:
        super().__init__(config)
        self.mode = config.options["bank-mode"]
        if self.mode == "txn":
            self.requires = frozenset({TXN})  # type: ignore[misc]
        n = config.key_count or config.options["key-count"]
        if n < 2:
            raise HarnessError(f"bank workload: needs at least 2 accounts, got {n}")
        self.accounts = [f"a{i}" for i in range(n)]
        self.initial = config.options["initial-balance"]
        self.max_amount = config.options["max-transfer"]
        self.max_retries = config.options["max-retries"]
        prefix = run_prefix(config, "bank")
        self.key = prefix + "accounts"
        self.account_keys = {a: f"{prefix}{a}" for a in self.accounts}

    @property
    def total(self) -> int:
        """The sum of all balances, forever."""
        return self.initial * len(self.accounts)

    def initial_map(self) -> dict[str, int]:
        return {a: self.initial for a in self.accounts}

    def generator(self) -> Generator:
        accounts, hi = self.accounts, self.max_amount

        def transfer(rng: random.Random) -> OpSpec:
            a, b = rng.sample(accounts, 2)
            return OpSpec("transfer", {"from": a, "to": b, "amount": rng.randint(1, hi)})

        def read(rng: random.Random) -> OpSpec:
            return OpSpec("read", None)

        return Mix([(3, transfer), (1, read)])

    def final_generator(self) -> Generator | None:
        return EachWorker(lambda: Once(OpSpec("final-read", None)))

    def apply(self, client: Client, op: OpSpec) -> tuple[str, Any]:
        if self.mode == "txn" and TXN not in client.capabilities:
            raise HarnessError("bank workload: bank-mode=txn but the system's client has no "
                               "txn capability; use bank-mode=cas")
        if op.f in ("read", "final-read"):
            return "ok", self._read_txn(client) if self.mode == "txn" else client.read(self.key)
        if op.f == "transfer":
            if self.mode == "txn":
                t = op.value
                client.txn([["append", self.account_keys[t["from"]], -t["amount"]],
                            ["append", self.account_keys[t["to"]], t["amount"]]])
                return "ok", op.value
            return self._cas_transfer(client, op.value)
        raise HarnessError(f"bank workload: unknown op {op.f!r}")

    def _read_txn(self, client: Client) -> dict[str, Any]:
        res = client.txn([["r", self.account_keys[a], None] for a in self.accounts])
        out: dict[str, Any] = {}
        for a, mop in zip(self.accounts, res, strict=True):
            deltas = mop[2] or []
            ok = isinstance(deltas, list) and all(
                isinstance(d, int) and not isinstance(d, bool) for d in deltas)
            out[a] = self.initial + sum(deltas) if ok else {"malformed": deltas}
        return out

    def _cas_transfer(self, client: Client, t: dict[str, Any]) -> tuple[str, Any]:
        src, dst, amount = t["from"], t["to"], t["amount"]

        def transfer(seen: Any) -> dict[str, Any]:
            # a missing bank is the bank before its first use: create it with this
            # transfer applied (cas with expected None creates only if absent)
            bank = self.initial_map() if seen is None else seen
            if not isinstance(bank, dict) or not isinstance(bank.get(src), int) \
                    or not isinstance(bank.get(dst), int):
                raise ClientError(f"transfer gave up: the bank reads as {seen!r}",
                                  definite=True)
            if bank[src] < amount:
                raise Declined  # insufficient funds: nothing written
            return {**bank, src: bank[src] - amount, dst: bank[dst] + amount}

        try:
            applied = cas_update(client, self.key, transfer, max_retries=self.max_retries,
                                 what="transfer")
        except Declined:
            return "fail", t
        return ("ok" if applied else "fail"), t

    def checkers(self) -> list[Checker]:
        return [BankChecker(self.accounts, self.total,
                            negative_allowed=self.mode == "txn"), StatsChecker()]
