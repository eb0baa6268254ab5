"""Read-modify-write through compare-and-set, retried while the cas is refused.

The bank, set and counter workloads build atomic updates from ``read`` + ``cas``.
The loop is correctness-critical (a wrong error mapping makes the history lie), so
it lives here once:

* a refused cas (``False``) or a cas error that is *definite* did not apply: retry;
* a cas error that is not definite may have applied: re-raised (the op is ``info``);
* a read error gives up with a *definite* error: reads write nothing and every
  earlier cas of this op was a definite no;
* ``update`` may raise :class:`Declined` (nothing to write: the op fails) or a
  definite ClientError (it cannot judge what it read).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from splitbrain.clusters.system import Client
from splitbrain.errors import ClientError


class Declined(Exception):
    """``update`` refuses to write anything (e.g. insufficient funds): the op fails."""


def cas_update(client: Client, key: str, update: Callable[[Any], Any], *,
               max_retries: int, what: str = "update") -> bool:
    """Apply ``update(seen)`` to ``key`` atomically; True once a cas applied, False when
    every one of ``max_retries`` attempts was refused."""
    for _ in range(max_retries):
        try:
            seen = client.read(key)
        except ClientError as e:
            raise ClientError(f"{what} gave up: read failed: {e}", definite=True) from e
        new = update(seen)
        try:
            if client.cas(key, seen, new):
                return True
        except ClientError as e:
            if not e.definite:
                raise
    return False
