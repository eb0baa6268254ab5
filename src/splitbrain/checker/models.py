"""Sequential specifications for the linearizability checker (Porcupine's ``Model``).

A model turns each history operation into a hashable ``(input, output)`` pair and
gives a pure ``step(state, input, output) -> (legal, next_state)``. States are
hashable so the search can cache ``(linearized set, state)``. ``output`` is
:data:`UNKNOWN` for ops that ended ``info`` (or never completed): the op may have
taken effect, and what it returned is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from splitbrain.errors import ModelError
from splitbrain.history.ops import FAIL, INFO, OK, Op

Step = Callable[[Any, Any, Any], tuple[bool, Any]]


class _Unknown:
    """The output of an op whose result is unknown (``info`` / never completed)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __reduce__(self) -> str:
        return "UNKNOWN"

    def __repr__(self) -> str:
        return "?"


UNKNOWN = _Unknown()
#: an output for a failed cas when ``failed_cas_observes`` is on
CAS_FAILED = False


#: ``Model.read_expects`` for an op that is not a plain read
NOT_READ = object()


_SCALARS = frozenset({int, str, float, bool, type(None)})


def freeze(v: Any) -> Hashable:
    """Make a history value hashable: lists -> tuples, dicts -> sorted item tuples."""
    if v.__class__ in _SCALARS:
        return v
    if isinstance(v, list | tuple):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(k), freeze(x)) for k, x in v.items()))
    if isinstance(v, set | frozenset):
        return frozenset(freeze(x) for x in v)
    return v


def _show(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, str):
        return repr(v)
    return str(v)


class Model:
    """Base model: subclasses set ``name`` and ``fs`` and implement the hooks."""

    name = "model"
    fs: tuple[str, ...] = ()
    #: the history is split into independent sub-histories by ``op.key``
    partition_by_key = True

    def init(self) -> Hashable:
        """The initial state."""
        return None

    def prepare(self, invoke: Op, complete: Op | None, outcome: str,
                failed_cas_observes: bool = False) -> tuple[Any, Any] | None:
        """Map an operation to ``(input, output)``; ``None`` drops it (constrains nothing).

        ``outcome`` is ``ok``, ``fail`` or ``info``; ``fail`` reaches here only
        when ``failed_cas_observes`` is on and the op is a cas.
        """
        raise NotImplementedError

    def step(self, state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
        """Apply one op: is it legal in ``state``, and the state after it."""
        return self.stepper(inp)(state, inp, out)

    def stepper(self, inp: Any) -> Step:
        """A step function specialised for this input (avoids dispatch in the hot loop)."""
        raise NotImplementedError

    def read_expects(self, inp: Any, out: Any) -> Any:
        """For a plain read (legal iff the state equals X, state unchanged): X.
        Else :data:`NOT_READ`. Lets the search skip a call per read."""
        return NOT_READ

    def partition(self, invoke: Op) -> Hashable:
        """The history-partition key of an op (``None``: one partition)."""
        return freeze(invoke.key) if self.partition_by_key else None

    def describe_operation(self, inp: Any, out: Any) -> str:
        return f"{inp!r} -> {out!r}"

    def describe_state(self, state: Any) -> str:
        return _show(state)

    def _bad(self, op: Op, why: str = "") -> ModelError:
        extra = f": {why}" if why else ""
        return ModelError(f"model {self.name} cannot check the op at history index {op.index} (f {op.f!r}, value "
                          f"{op.value!r}){extra}; it knows f in {', '.join(self.fs)}")


def _value_of(invoke: Op, complete: Op | None) -> Any:
    """The completion's value if it has one, else the invocation's."""
    if complete is not None and complete.value is not None:
        return complete.value
    return invoke.value


# --------------------------------------------------------------------------- registers


def _reg_read(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return (out is UNKNOWN or state == out), state


def _reg_write(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return True, inp[1]


def _reg_cas(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    if state == inp[1]:
        return (False, state) if out is CAS_FAILED else (True, inp[2])
    return out is not True, state


class CasRegister(Model):
    """A single register holding any value, starting ``nil``: read / write / cas."""

    name = "cas-register"
    fs = ("read", "write", "cas")
    _steps = {"r": _reg_read, "w": _reg_write, "c": _reg_cas}

    def prepare(self, invoke: Op, complete: Op | None, outcome: str,
                failed_cas_observes: bool = False) -> tuple[Any, Any] | None:
        f = invoke.f
        if f == "read":
            if outcome != OK:
                return None
            return ("r",), freeze(complete.value if complete is not None else None)
        if f == "write":
            return ("w", freeze(invoke.value)), (True if outcome == OK else UNKNOWN)
        if f == "cas" and "c" in self._steps:
            v = invoke.value
            if not isinstance(v, list | tuple) or len(v) != 2:
                raise self._bad(invoke, "cas value must be [expected new]")
            out = True if outcome == OK else CAS_FAILED if outcome == FAIL else UNKNOWN
            return ("c", freeze(v[0]), freeze(v[1])), out
        raise self._bad(invoke)

    def read_expects(self, inp: Any, out: Any) -> Any:
        return out if inp[0] == "r" and out is not UNKNOWN else NOT_READ

    def stepper(self, inp: Any) -> Step:
        return self._steps[inp[0]]

    def describe_operation(self, inp: Any, out: Any) -> str:
        k = inp[0]
        if k == "r":
            return f"read() → {'?' if out is UNKNOWN else _show(out)}"
        if k == "w":
            return f"write({_show(inp[1])})" + (" ?" if out is UNKNOWN else "")
        res = "?" if out is UNKNOWN else "ok" if out is True else "fail"
        return f"cas({_show(inp[1])}→{_show(inp[2])}) {res}"


class Register(CasRegister):
    """A read/write register starting ``nil`` (no cas)."""

    name = "register"
    fs = ("read", "write")
    _steps = {"r": _reg_read, "w": _reg_write}


# --------------------------------------------------------------------------- kv


def _kv_get(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return (out is UNKNOWN or state == out), state


def _kv_put(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return True, inp[1]


def _kv_append(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return True, state + inp[1]


class KV(Model):
    """String values per key (``""`` when absent): get / put / append; one partition per key."""

    name = "kv"
    fs = ("get", "put", "append")
    _steps = {"get": _kv_get, "put": _kv_put, "append": _kv_append}

    def init(self) -> Hashable:
        return ""

    def prepare(self, invoke: Op, complete: Op | None, outcome: str,
                failed_cas_observes: bool = False) -> tuple[Any, Any] | None:
        f = invoke.f
        if f == "get":
            if outcome != OK:
                return None
            v = complete.value if complete is not None else None
            return ("get",), ("" if v is None else str(v))
        if f in ("put", "append"):
            v = invoke.value
            return (f, "" if v is None else str(v)), (True if outcome == OK else UNKNOWN)
        raise self._bad(invoke)

    def read_expects(self, inp: Any, out: Any) -> Any:
        return out if inp[0] == "get" and out is not UNKNOWN else NOT_READ

    def stepper(self, inp: Any) -> Step:
        return self._steps[inp[0]]

    def describe_operation(self, inp: Any, out: Any) -> str:
        if inp[0] == "get":
            return f"get() → {'?' if out is UNKNOWN else repr(out)}"
        return f"{inp[0]}({inp[1]!r})" + (" ?" if out is UNKNOWN else "")


# --------------------------------------------------------------------------- multi-register


def _txn(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    d = dict(state)
    reads = out if out is not UNKNOWN else None
    changed = False
    for j, (f, k, v) in enumerate(inp[1]):
        if f == "w":
            d[k] = v
            changed = True
        elif reads is not None and d.get(k) != reads[j]:
            return False, state
    return True, (tuple(sorted(d.items(), key=repr)) if changed else state)


class MultiRegister(Model):
    """Registers over several keys, all ``nil`` at first; ops are transactions
    ``[[:r k nil] [:w k v] ...]`` (``f`` ``txn``); a read micro-op returns its value."""

    name = "multi-register"
    fs = ("txn", "read", "write")
    partition_by_key = False

    def init(self) -> Hashable:
        return ()

    def prepare(self, invoke: Op, complete: Op | None, outcome: str,
                failed_cas_observes: bool = False) -> tuple[Any, Any] | None:
        if invoke.f not in self.fs:
            raise self._bad(invoke)
        if invoke.f in ("read", "write"):  # single-key shorthand: key + value
            mops_in: Any = [["r" if invoke.f == "read" else "w", invoke.key, invoke.value]]
            mops_out: Any = [["r", invoke.key, complete.value if complete else None]]
        else:
            mops_in = invoke.value
            mops_out = complete.value if complete is not None and outcome == OK else None
        if not isinstance(mops_in, list | tuple):
            raise self._bad(invoke, "txn value must be a list of [f k v]")
        micro = []
        for m in mops_in:
            if not isinstance(m, list | tuple) or len(m) != 3 or m[0] not in ("r", "w", "read", "write"):
                raise self._bad(invoke, f"bad micro-op {m!r}")
            micro.append(("w" if m[0] in ("w", "write") else "r", freeze(m[1]), freeze(m[2])))
        if all(m[0] == "r" for m in micro) and outcome != OK:
            return None
        if outcome != OK:
            return ("t", tuple(micro)), UNKNOWN
        if invoke.f == "txn" and (not isinstance(mops_out, list | tuple) or len(mops_out) != len(micro)):
            raise self._bad(invoke, "ok txn must return one value per micro-op")
        reads = tuple(freeze(m[2]) if isinstance(m, list | tuple) and len(m) == 3 else None
                      for m in mops_out)
        return ("t", tuple(micro)), reads

    def stepper(self, inp: Any) -> Step:
        return _txn

    def describe_operation(self, inp: Any, out: Any) -> str:
        parts = []
        for j, (f, k, v) in enumerate(inp[1]):
            if f == "w":
                parts.append(f"w {k}={_show(v)}")
            else:
                parts.append(f"r {k}→{'?' if out is UNKNOWN else _show(out[j])}")
        return "txn[" + ", ".join(parts) + "]"

    def describe_state(self, state: Any) -> str:
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in state) + "}"


# --------------------------------------------------------------------------- counter, set


def _cnt_add(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return True, state + inp[1]


def _cnt_read(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return (out is UNKNOWN or state == out), state


class Counter(Model):
    """An integer starting at 0: add(n) / read."""

    name = "counter"
    fs = ("add", "read")

    def init(self) -> Hashable:
        return 0

    def prepare(self, invoke: Op, complete: Op | None, outcome: str,
                failed_cas_observes: bool = False) -> tuple[Any, Any] | None:
        if invoke.f == "read":
            if outcome != OK:
                return None
            return ("read",), freeze(complete.value if complete is not None else None)
        if invoke.f == "add":
            v = invoke.value if invoke.value is not None else 1
            if not isinstance(v, int | float):
                raise self._bad(invoke, "add needs a number")
            return ("add", v), (True if outcome == OK else UNKNOWN)
        raise self._bad(invoke)

    def read_expects(self, inp: Any, out: Any) -> Any:
        return out if inp[0] == "read" and out is not UNKNOWN else NOT_READ

    def stepper(self, inp: Any) -> Step:
        return _cnt_read if inp[0] == "read" else _cnt_add

    def describe_operation(self, inp: Any, out: Any) -> str:
        if inp[0] == "read":
            return f"read() → {'?' if out is UNKNOWN else _show(out)}"
        return f"add({inp[1]})" + (" ?" if out is UNKNOWN else "")


def _set_add(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return True, state | inp[1]


def _set_read(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return (out is UNKNOWN or state == out), state


class SetModel(Model):
    """A set, empty at first: add(x) / read of the whole set."""

    name = "set"
    fs = ("add", "read")

    def init(self) -> Hashable:
        return frozenset()

    def prepare(self, invoke: Op, complete: Op | None, outcome: str,
                failed_cas_observes: bool = False) -> tuple[Any, Any] | None:
        if invoke.f == "read":
            if outcome != OK:
                return None
            v = complete.value if complete is not None else None
            if not isinstance(v, list | tuple | set | frozenset):
                raise self._bad(invoke, "read must return a collection")
            return ("read",), frozenset(freeze(x) for x in v)
        if invoke.f == "add":
            return ("add", frozenset([freeze(invoke.value)])), (True if outcome == OK else UNKNOWN)
        raise self._bad(invoke)

    def read_expects(self, inp: Any, out: Any) -> Any:
        return out if inp[0] == "read" and out is not UNKNOWN else NOT_READ

    def stepper(self, inp: Any) -> Step:
        return _set_read if inp[0] == "read" else _set_add

    def describe_operation(self, inp: Any, out: Any) -> str:
        if inp[0] == "read":
            return f"read() → {'?' if out is UNKNOWN else self.describe_state(out)}"
        (x,) = inp[1]
        return f"add({_show(x)})" + (" ?" if out is UNKNOWN else "")

    def describe_state(self, state: Any) -> str:
        return "#{" + " ".join(sorted(_show(x) for x in state)) + "}"


# --------------------------------------------------------------------------- mutex, queue


def _acquire(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return (not state), True


def _release(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return bool(state), False


class Mutex(Model):
    """A lock, free at first: acquire (legal only when free) / release (only when held)."""

    name = "mutex"
    fs = ("acquire", "release")

    def init(self) -> Hashable:
        return False

    def prepare(self, invoke: Op, complete: Op | None, outcome: str,
                failed_cas_observes: bool = False) -> tuple[Any, Any] | None:
        if invoke.f not in self.fs:
            raise self._bad(invoke)
        return (invoke.f,), (True if outcome == OK else UNKNOWN)

    def stepper(self, inp: Any) -> Step:
        return _acquire if inp[0] == "acquire" else _release

    def describe_operation(self, inp: Any, out: Any) -> str:
        return f"{inp[0]}()" + (" ?" if out is UNKNOWN else "")

    def describe_state(self, state: Any) -> str:
        return "held" if state else "free"


def _enqueue(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    return True, state + (inp[1],)


def _dequeue(state: Any, inp: Any, out: Any) -> tuple[bool, Any]:
    if out is UNKNOWN:
        return True, state[1:]
    if not state:
        return out is None, state
    return state[0] == out, state[1:]


class FifoQueue(Model):
    """A FIFO queue, empty at first: enqueue(x) / dequeue → x (nil when empty)."""

    name = "fifo-queue"
    fs = ("enqueue", "dequeue")

    def init(self) -> Hashable:
        return ()

    def prepare(self, invoke: Op, complete: Op | None, outcome: str,
                failed_cas_observes: bool = False) -> tuple[Any, Any] | None:
        if invoke.f == "enqueue":
            return ("enqueue", freeze(invoke.value)), (True if outcome == OK else UNKNOWN)
        if invoke.f == "dequeue":
            out = freeze(complete.value) if outcome == OK and complete is not None else UNKNOWN
            return ("dequeue",), out
        raise self._bad(invoke)

    def stepper(self, inp: Any) -> Step:
        return _enqueue if inp[0] == "enqueue" else _dequeue

    def describe_operation(self, inp: Any, out: Any) -> str:
        if inp[0] == "enqueue":
            return f"enqueue({_show(inp[1])})" + (" ?" if out is UNKNOWN else "")
        return f"dequeue() → {'?' if out is UNKNOWN else _show(out)}"

    def describe_state(self, state: Any) -> str:
        return "[" + " ".join(_show(x) for x in state) + "]"


MODELS: dict[str, type[Model]] = {m.name: m for m in (
    Register, CasRegister, KV, MultiRegister, Counter, SetModel, Mutex, FifoQueue)}


def get_model(name: str | Model) -> Model:
    """The model called ``name`` (a :class:`Model` instance passes through)."""
    if isinstance(name, Model):
        return name
    try:
        return MODELS[name]()
    except KeyError:
        raise ModelError(f"unknown model {name!r}; models: {', '.join(sorted(MODELS))}") from None


def is_completed(outcome: str) -> bool:
    """``ok`` and ``fail`` ops have a return time; ``info`` ones do not."""
    return outcome != INFO
