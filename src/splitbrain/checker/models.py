"""Sequential specifications for the linearizability checker (Porcupine's ``Model``).

A model turns each history operation into a hashable ``(input, output)`` pair and
gives a pure ``step(state, input, output) -> (legal, next_state)``. States are
hashable so the search can cache ``(linearized set, state)``. ``output`` is
:data:`UNKNOWN` for ops that ended ``info`` (or never completed): the op may have
taken effect, and what it returned is unknown.

Values are compared as JSON values: values of different JSON types are never equal
(``true`` is not ``1``, ``"1"`` is not ``1``, an object is not a list of pairs), so
:func:`freeze` tags booleans and objects. JSON has a single number type, so numbers
compare by value: ``1`` equals ``1.0`` (as in Go's and JavaScript's JSON decoders).

:meth:`Model.opcode` tells the search how to apply an op without a Python call where it
can (read / write / compare-and-set on whole states); other ops go through ``step``.
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

#: :meth:`Model.opcode` codes: how the search applies an op to a state ``s``
READ = 0     #: ``(READ, x, _)``: legal iff ``s == x``; ``s`` unchanged
WRITE = 1    #: ``(WRITE, x, _)``: always legal; the state becomes ``x``
CAS = 2      #: ``(CAS, x, y)``: legal iff ``s == x``; the state becomes ``y``
DIFFERS = 3  #: ``(DIFFERS, x, _)``: legal iff ``s != x``; ``s`` unchanged
STEP = 4     #: ``(STEP, fn, _)``: ``fn(s, input, output)`` gives ``(legal, next state)``


class _JsonBool:
    """A JSON boolean inside a frozen value: unlike Python's ``True``, never equal to ``1``."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __reduce__(self) -> str:
        return "JSON_TRUE" if self.value else "JSON_FALSE"

    def __repr__(self) -> str:
        return "true" if self.value else "false"


JSON_TRUE = _JsonBool(True)
JSON_FALSE = _JsonBool(False)


class _MapTag:
    """First element of a frozen JSON object, so that it never equals a list of pairs."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "MAP"

    def __repr__(self) -> str:
        return "map"


MAP = _MapTag()

_SCALARS = frozenset({int, str, float, type(None)})


def freeze(v: Any) -> Hashable:
    """Make a history value hashable and type-strict: lists -> tuples, objects ->
    ``(MAP, (key, value)...)`` sorted by key, booleans -> :data:`JSON_TRUE` / :data:`JSON_FALSE`."""
    c = v.__class__
    if c in _SCALARS:
        return v
    if c is bool:
        return JSON_TRUE if v else JSON_FALSE
    if isinstance(v, list | tuple):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return (MAP, *sorted(((str(k), freeze(x)) for k, x in v.items()), key=lambda kv: kv[0]))
    if isinstance(v, set | frozenset):
        return frozenset(freeze(x) for x in v)
    if isinstance(v, str):  # a str subclass (an EDN keyword): compare as a string
        return str(v)
    return v


def thaw(v: Any) -> Any:
    """The plain JSON form of a frozen value (for reports)."""
    if v.__class__ in _SCALARS:
        return v
    if v.__class__ is _JsonBool:
        return v.value
    if isinstance(v, tuple):
        if v and v[0] is MAP:
            return {k: thaw(x) for k, x in v[1:]}
        return [thaw(x) for x in v]
    if isinstance(v, frozenset | set):
        return sorted((thaw(x) for x in v), key=repr)
    if v is UNKNOWN:
        return None
    return v


def _show(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, tuple) and v and v[0] is MAP:
        return "{" + ", ".join(f"{k}: {_show(x)}" for k, x in v[1:]) + "}"
    if isinstance(v, tuple):
        return "[" + " ".join(_show(x) for x in v) + "]"
    return str(v)


class Model:
    """Base model: subclasses set ``name`` and ``fs`` and implement the hooks."""

    name = "model"
    fs: tuple[str, ...] = ()
    #: the history is split into independent sub-histories by ``op.key``
    partition_by_key = True
    #: ``reach(state, target)``: false when no sequence of this model's ``STEP`` ops can
    #: take ``state`` to ``target`` (only ``WRITE`` / ``CAS`` ops replace a state); it
    #: must stay false along ``STEP`` ops. Lets the search drop a configuration at once
    #: when the read it must linearize next can never succeed. ``None``: no such rule.
    reach: Callable[[Any, Any], bool] | None = None
    #: every ``STEP`` op is legal in every state (with ``reach``: lets the search treat
    #: all states that no pending read can see before the next write as one)
    steps_total = False
    #: ``f`` -> ``"in"`` / ``"out"`` / ``"pair"``: for an ``ok`` op with this ``f``,
    #: :meth:`compile` depends only on the invocation's / the completion's value / the
    #: invocation's ``[a, b]``, so the checker compiles each distinct (scalar) value once
    compile_by_value: dict[str, str] = {}

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

    def opcode(self, inp: Any, out: Any) -> tuple[int, Any, Any]:
        """How the search applies this op (see :data:`READ` ... :data:`STEP`); must agree
        with :meth:`step`. The default: :meth:`read_expects`, else the op's stepper."""
        x = self.read_expects(inp, out)
        if x is not NOT_READ:
            return READ, x, None
        return STEP, self.stepper(inp), None

    def compile(self, invoke: Op, complete: Op | None, outcome: str,
                failed_cas_observes: bool = False) -> tuple[int, Any, Any] | None:
        """:meth:`prepare` then :meth:`opcode` in one call (the checker's hot path):
        ``None`` drops the op; a ``STEP`` op comes as ``(STEP, fn, (input, output))``."""
        io = self.prepare(invoke, complete, outcome, failed_cas_observes)
        if io is None:
            return None
        c, a, b = self.opcode(io[0], io[1])
        return (c, a, io) if c == STEP else (c, a, b)

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
    compile_by_value = {"read": "out", "write": "in", "cas": "pair"}

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

    def compile(self, invoke: Op, complete: Op | None, outcome: str,
                failed_cas_observes: bool = False) -> tuple[int, Any, Any] | None:
        f = invoke.f
        if f == "read":
            if outcome != OK:
                return None
            v = complete.value if complete is not None else None
            return READ, (v if v.__class__ in _SCALARS else freeze(v)), None
        if f == "write":
            v = invoke.value
            return WRITE, (v if v.__class__ in _SCALARS else freeze(v)), None
        if f == "cas" and outcome != INFO and "c" in self._steps:
            v = invoke.value
            if v.__class__ is list and len(v) == 2:
                a, b = v
                a = a if a.__class__ in _SCALARS else freeze(a)
                if outcome == OK:
                    return CAS, a, (b if b.__class__ in _SCALARS else freeze(b))
                return DIFFERS, a, None  # fail: reaches here only with failed_cas_observes
        return super().compile(invoke, complete, outcome, failed_cas_observes)

    def opcode(self, inp: Any, out: Any) -> tuple[int, Any, Any]:
        k = inp[0]
        if k == "w":
            return WRITE, inp[1], None
        if k == "r":
            return (READ, out, None) if out is not UNKNOWN else (STEP, _reg_read, None)
        if out is True:
            return CAS, inp[1], inp[2]
        if out is CAS_FAILED:
            return DIFFERS, inp[1], None
        return STEP, _reg_cas, None

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


def _kv_reach(state: Any, target: Any) -> bool:
    return target.__class__ is str and target.startswith(state)


class KV(Model):
    """String values per key (``""`` when absent): get / put / append; one partition per key."""

    name = "kv"
    fs = ("get", "put", "append")
    _steps = {"get": _kv_get, "put": _kv_put, "append": _kv_append}
    reach = staticmethod(_kv_reach)  # appends only extend the string
    steps_total = True
    compile_by_value = {"get": "out", "put": "in", "append": "in"}

    def init(self) -> Hashable:
        return ""

    def prepare(self, invoke: Op, complete: Op | None, outcome: str,
                failed_cas_observes: bool = False) -> tuple[Any, Any] | None:
        f = invoke.f
        if f == "get":
            if outcome != OK:
                return None
            v = complete.value if complete is not None else None
            # a value that is not a string never equals a state (all states are strings)
            return ("get",), ("" if v is None else freeze(v))
        if f in ("put", "append"):
            v = invoke.value
            if v is not None and not isinstance(v, str):
                raise self._bad(invoke, "kv values are strings")
            return (f, "" if v is None else str(v)), (True if outcome == OK else UNKNOWN)
        raise self._bad(invoke)

    def read_expects(self, inp: Any, out: Any) -> Any:
        return out if inp[0] == "get" and out is not UNKNOWN else NOT_READ

    def stepper(self, inp: Any) -> Step:
        return self._steps[inp[0]]

    def opcode(self, inp: Any, out: Any) -> tuple[int, Any, Any]:
        if inp[0] == "put":
            return WRITE, inp[1], None
        return super().opcode(inp, out)

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
            if not isinstance(v, int | float) or isinstance(v, bool):
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


def _set_reach(state: Any, target: Any) -> bool:
    return state <= target


class SetModel(Model):
    """A set, empty at first: add(x) / read of the whole set."""

    name = "set"
    fs = ("add", "read")
    reach = staticmethod(_set_reach)  # adds only grow the set
    steps_total = True

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

    def opcode(self, inp: Any, out: Any) -> tuple[int, Any, Any]:
        # the state is always False (free) or True (held)
        return (CAS, False, True) if inp[0] == "acquire" else (CAS, True, False)

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
