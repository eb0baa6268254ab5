"""History readers: our JSONL, Jepsen EDN (``history.edn``) and Jepsen log / ``history.txt`` lines.

Every reader returns ops numbered by position (Jepsen's convention) and checks the
process discipline with :func:`splitbrain.history.ops.validate`; a malformed
file raises :class:`HistoryError` whose message is one line: file, line, problem.
"""

from __future__ import annotations

import bisect
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from splitbrain.errors import HistoryError
from splitbrain.history.ops import NEMESIS, OP_TYPES, Op, validate

FORMATS = ("auto", "jsonl", "edn", "jepsen-log")
_CORE_EDN = ("process", "type", "f", "value", "key", "time", "index", "error", "node")


class Keyword(str):
    """An EDN keyword, as a ``str`` without the colon; the subclass remembers it was one."""

    __slots__ = ()


class Symbol(str):
    """An EDN symbol, as a ``str``."""

    __slots__ = ()


class EdnError(ValueError):
    """A syntax error at a character offset of the EDN text."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos, self.message = pos, message


_TOKEN = re.compile(r"""
    (?P<ws>[\s,]+|;[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<open>\#\{|[\[({])
  | (?P<close>[\])}])
  | (?P<discard>\#_)
  | (?P<tag>\#[A-Za-z][^\s,;"\[\](){}]*)
  | (?P<char>\\(?:newline|space|tab|return|formfeed|backspace|u[0-9a-fA-F]{4}|.))
  | (?P<atom>[^\s,;"\[\](){}\\]+)
  | (?P<bad>.)
""", re.VERBOSE | re.DOTALL)
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_RATIO = re.compile(r"[+-]?\d+/\d+")
_STR_ESC = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f"}
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r", "formfeed": "\f",
          "backspace": "\b"}
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_END = object()
_KW = r":[A-Za-z_*+!?<>=.-][\w*+!?<>=./-]*"
_SIMPLE = rf'(?:nil|true|false|-?\d+(?![\w.])|{_KW}|"[^"\\]*")'
_VAL = rf"(?:{_SIMPLE}|\[[\s,]*(?:{_SIMPLE}[\s,]*)*\])"
_FAST_MAP = re.compile(rf"\{{[\s,]*(?:{_KW}[\s,]+{_VAL}[\s,]*)*\}}")
_FAST_PAIR = re.compile(rf"({_KW})[\s,]+({_VAL})")
_FAST_ITEM = re.compile(_SIMPLE)


def _fast_value(v: str) -> Any:
    """A value matched by ``_VAL``: a simple atom or a vector of them."""
    c = v[0]
    if c == "[":
        return [_fast_value(x) for x in _FAST_ITEM.findall(v)]
    if c == ":":
        return Keyword(v[1:])
    if c == '"':
        return v[1:-1]
    if v == "nil":
        return None
    if v == "true":
        return True
    if v == "false":
        return False
    return int(v)


class EdnReader:
    """A small EDN reader: keywords become :class:`Keyword` (no colon), vectors and
    lists become ``list``, maps ``dict``, sets ``list``; tagged literals give their form.

    Flat maps of simple values (the shape of nearly every Jepsen op) take a regex
    fast path; everything else goes through the tokenizer.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def _token(self) -> re.Match[str] | None:
        """The next non-whitespace token, not consumed."""
        text = self.text
        while True:
            m = _TOKEN.match(text, self.at)
            if m is None:
                return None
            if m.lastgroup != "ws":
                return m
            self.at = m.end()

    def at_end(self) -> bool:
        return self._token() is None

    def peek(self) -> tuple[str, str, int] | None:
        m = self._token()
        return (m.lastgroup or "", m.group(), m.start()) if m else None

    def pos(self) -> int:
        m = self._token()
        return m.start() if m else len(self.text)

    def skip(self) -> None:
        m = self._token()
        if m is not None:
            self.at = m.end()

    def read(self) -> Any:
        """Read one form; raise :class:`EdnError` at the end of input."""
        v = self._read(None)
        if v is _END:
            raise EdnError(len(self.text), "unexpected end of input")
        return v

    def _read(self, closer: str | None) -> Any:
        while True:
            m = self._token()
            if m is None:
                if closer is not None:
                    raise EdnError(-1, f"missing {closer!r} before end of input")
                return _END
            kind, tok, pos = m.lastgroup, m.group(), m.start()
            if tok == "{":
                fm = _FAST_MAP.match(self.text, pos)
                if fm is not None:
                    self.at = fm.end()
                    return {Keyword(k[1:]): _fast_value(v) for k, v in _FAST_PAIR.findall(fm.group())}
            self.at = m.end()
            if kind == "discard":
                if self._read(closer) is _END:
                    raise EdnError(pos, "#_ with nothing to discard")
                continue
            if kind == "close":
                if tok != closer:
                    raise EdnError(pos, f"unexpected {tok!r}")
                return _END
            if kind == "open":
                return self._read_coll(tok, pos)
            if kind == "str":
                return _unescape(tok[1:-1], pos)
            if kind == "tag":
                v = self._read(closer)
                if v is _END:
                    raise EdnError(pos, f"tag {tok} without a value")
                return v
            if kind == "char":
                body = tok[1:]
                if body in _CHARS:
                    return _CHARS[body]
                if len(body) == 5 and body[0] == "u":
                    return chr(int(body[1:], 16))
                return body
            if kind == "atom":
                return _atom(tok, pos)
            raise EdnError(pos, f"unexpected character {tok!r}")

    def _read_coll(self, opener: str, pos: int) -> Any:
        closer = _CLOSERS[opener]
        items: list[Any] = []
        while True:
            try:
                v = self._read(closer)
            except EdnError as e:
                if e.pos == -1:  # point at the innermost collection left open
                    raise EdnError(pos, f"{opener!r} opened here is never closed") from None
                raise
            if v is _END:
                break
            items.append(v)
        if opener != "{":
            return items
        if len(items) % 2:
            raise EdnError(pos, "map literal with an odd number of forms")
        out: dict[Any, Any] = {}
        for k, v in zip(items[0::2], items[1::2], strict=True):
            out[_hashable(k)] = v
        return out


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(k), _hashable(x)) for k, x in v.items()))
    return v


def _unescape(body: str, pos: int) -> str:
    if "\\" not in body:
        return body
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n == "u" and i + 5 < len(body) + 0 and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2:i + 6]):
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
                continue
            if n not in _STR_ESC:
                raise EdnError(pos, f"bad escape \\{n} in string")
            out.append(_STR_ESC[n])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _atom(tok: str, pos: int) -> Any:
    if tok == "nil":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    if tok[0] == ":":
        if len(tok) == 1:
            raise EdnError(pos, "empty keyword ':'")
        return Keyword(tok[1:])
    c = tok[0]
    if c.isdigit() or (c in "+-" and len(tok) > 1 and tok[1].isdigit()):
        if _INT.fullmatch(tok):
            return int(tok.rstrip("N"))
        if _FLOAT.fullmatch(tok):
            return float(tok.rstrip("M"))
        if _RATIO.fullmatch(tok):
            a, b = tok.split("/")
            return int(a) / int(b)
        raise EdnError(pos, f"bad number {tok!r}")
    return Symbol(tok)


def parse_edn(text: str) -> list[Any]:
    """Parse all top-level forms of an EDN text (raises :class:`EdnError`)."""
    r = EdnReader(text)
    out = []
    while True:
        v = r._read(None)
        if v is _END:
            return out
        out.append(v)


class _Lines:
    """Character offset -> 1-based line number."""

    def __init__(self, text: str) -> None:
        self.starts = [m.end() for m in re.finditer(r"\n", text)]

    def __call__(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos) + 1


# ---------------------------------------------------------------------------- ops


def _plain(v: Any) -> Any:
    """Keywords and symbols to plain ``str``; tuples (map keys) to lists."""
    if isinstance(v, str):
        return str(v) if type(v) is not str else v
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {(_plain(k) if not isinstance(k, tuple) else str(k)): _plain(x)
                for k, x in v.items()}
    return v


def _is_txn(v: Any) -> bool:
    """A list of micro-ops ``[f, key, value]`` with f in append / r / w."""
    return (isinstance(v, list) and bool(v)
            and all(isinstance(x, list) and len(x) == 3 and x[0] in ("append", "r", "w")
                    for x in v))


def _op_from_map(m: Any, source: str, line: int) -> Op:
    if not isinstance(m, dict):
        raise HistoryError(source, line, f"expected an op map, got {_kind(m)}")
    if "f" not in m and _is_txn(m.get("value")):
        m = {**m, "f": "txn"}        # Elle's sample histories omit :f on transactions
    if "process" not in m and "f" in m and m["f"] == "txn":
        m = {**m, "process": 0}      # ... and :process on single-process ones
    missing = [k for k in ("process", "type", "f") if k not in m]
    if missing:
        raise HistoryError(source, line, "op map lacks " + ", ".join(":" + k for k in missing))
    typ = m["type"]
    if not isinstance(typ, str) or typ not in OP_TYPES:
        raise HistoryError(source, line, f":type must be one of :invoke :ok :fail :info, "
                                         f"got {_show(typ)}")
    proc = m["process"]
    if isinstance(proc, bool) or not isinstance(proc, (int, str)):
        raise HistoryError(source, line, f":process must be an integer or :nemesis, got "
                                         f"{_show(proc)}")
    f = m["f"]
    if not isinstance(f, (str, int)) or isinstance(f, bool):
        raise HistoryError(source, line, f":f must be a keyword, got {_show(f)}")
    t = m.get("time")
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float))):
        raise HistoryError(source, line, f":time must be a number, got {_show(t)}")
    extra = {str(k): _plain(v) for k, v in m.items() if k not in _CORE_EDN}
    if "index" in m:
        extra["source_index"] = _plain(m["index"])
    return Op(type=str(typ), process=proc if isinstance(proc, int) else str(proc), f=str(f),
              value=_plain(m.get("value")), key=_plain(m.get("key")), time=int(t or 0),
              node=_plain(m.get("node")), error=_plain(m.get("error")), extra=extra)


def _kind(v: Any) -> str:
    if isinstance(v, list):
        return "a vector"
    if v is None:
        return "nil"
    return f"{type(v).__name__} {_show(v)}"


def _show(v: Any) -> str:
    if isinstance(v, Keyword):
        return ":" + v
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def read_edn(text: str, source: str) -> tuple[list[Op], list[int]]:
    """Parse a Jepsen EDN history: one vector/list of op maps, or op maps one after another."""
    lines = _Lines(text)
    r = EdnReader(text)
    ops: list[Op] = []
    at: list[int] = []
    try:
        tok = r.peek()
        if tok is None:
            return ops, at
        single = tok[0] == "open" and tok[1] in ("[", "(")
        if single:
            opener = tok[1]
            r.skip()
            while True:
                start = r.pos()
                try:
                    v = r._read(_CLOSERS[opener])
                except EdnError as e:
                    if e.pos == -1:
                        raise EdnError(tok[2], f"{opener!r} opened here is never closed") from None
                    raise
                if v is _END:
                    break
                ops.append(_op_from_map(v, source, lines(start)))
                at.append(lines(start))
            if not r.at_end():
                raise EdnError(r.pos(), "unexpected form after the history vector")
        else:
            while True:
                start = r.pos()
                v = r._read(None)
                if v is _END:
                    break
                ops.append(_op_from_map(v, source, lines(start)))
                at.append(lines(start))
    except EdnError as e:
        raise HistoryError(source, lines(e.pos), "EDN syntax: " + e.message) from None
    return ops, at


_LOG_OP = re.compile(r"(?:^|\s)(-?\d+|:nemesis|nemesis)\s+:(invoke|ok|fail|info)\s+(:?[^\s]+)(.*)$")
_LOG_HINT = re.compile(r"^\s*(?:-?\d+|:nemesis)\s|jepsen\.util\s+-")


def read_jepsen_log(text: str, source: str) -> tuple[list[Op], list[int]]:
    """Parse Jepsen log lines (``INFO  jepsen.util - 2\\t:invoke\\t:cas\\t[3 0]``) or
    ``history.txt`` lines (the same without the prefix); other log lines are skipped."""
    ops: list[Op] = []
    at: list[int] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = _LOG_OP.search(line)
        if m is None:
            if _LOG_HINT.search(line):
                raise HistoryError(source, n, "not a history line: expected "
                                              "'process :type :f value'")
            continue
        proc_s, typ, f_s, rest = m.groups()
        proc: int | str = NEMESIS if proc_s.lstrip(":") == NEMESIS else int(proc_s)
        r = rest.strip()
        try:
            if r == "nil" or not r:
                forms: list[Any] = [None] if r else []
            elif _INT.fullmatch(r) and not r.endswith("N"):
                forms = [int(r)]
            else:
                forms = parse_edn(r)
        except EdnError as e:
            raise HistoryError(source, n, f"bad value {rest.strip()!r}: {e.message}") from None
        value = _plain(forms[0]) if forms else None
        error = _plain(forms[1]) if len(forms) > 1 else None
        if typ in ("info", "fail") and forms and isinstance(forms[0], Keyword):
            value, error = None, str(forms[0])
        ops.append(Op(type=typ, process=proc, f=f_s.lstrip(":"), value=value, error=error))
        at.append(n)
    return ops, at


def _lines(text: str) -> Iterator[str]:
    """The lines of a JSONL text, one at a time: a list of them all would hold a second
    copy of a large history while it is parsed. Lines end at "\\n" (JSON escapes every
    other line break inside a value; a "\\r" before it is whitespace to the parser)."""
    start, end_of_text = 0, len(text)
    find = text.find
    while start < end_of_text:
        end = find("\n", start)
        if end < 0:
            end = end_of_text
        yield text[start:end]
        start = end + 1


def read_jsonl(text: str, source: str) -> tuple[list[Op], list[int]]:
    """Parse our own ``history.jsonl``: one ``Op.to_dict()`` object per line."""
    ops: list[Op] = []
    at: list[int] = []
    share = _Sharer()  # now, so that each line's own strings are freed at once
    for n, raw in enumerate(_lines(text), 1):
        if not raw.strip():
            continue
        try:
            d = json.loads(raw)
        except json.JSONDecodeError as e:
            raise HistoryError(source, n, f"invalid JSON: {e.msg} (column {e.colno})") from None
        except RecursionError:
            raise HistoryError(source, n, "nested too deeply (over ~1000 levels)") from None
        except ValueError as e:          # an integer of more than 4300 digits
            why = "an integer of more than 4300 digits" if "digits" in str(e) else str(e)
            raise HistoryError(source, n, f"invalid JSON: {why}") from None
        if not isinstance(d, dict):
            raise HistoryError(source, n, f"expected a JSON object, got {type(d).__name__}")
        missing = [k for k in ("type", "process", "f") if k not in d]
        if missing:
            raise HistoryError(source, n, "op lacks " + ", ".join(repr(k) for k in missing))
        if not isinstance(d["type"], str) or d["type"] not in OP_TYPES:
            raise HistoryError(source, n, f"'type' must be one of invoke, ok, fail, info, "
                                          f"got {_show(d['type'])}")
        p = d["process"]
        if isinstance(p, bool) or not isinstance(p, (int, str)):
            raise HistoryError(source, n, f"'process' must be an integer or \"nemesis\", got {p!r}")
        try:
            op = Op.from_dict(d)
        except (TypeError, ValueError) as e:
            raise HistoryError(source, n, f"bad field: {e}") from None
        share(op)
        ops.append(op)
        at.append(n)
    return ops, at


def sniff(path: Path, text: str) -> str:
    """Guess the format from the extension, else from the first meaningful line."""
    ext = path.suffix.lower()
    if ext in (".jsonl", ".json"):
        return "jsonl"
    if ext == ".edn":
        return "edn"
    if ext == ".log":
        return "jepsen-log"
    for raw in text.splitlines():
        s = raw.strip()
        if not s or s.startswith(";"):
            continue
        if s.startswith('{"') or s.startswith("{ \""):
            return "jsonl"
        if s[0] in "[({#":
            return "edn"
        if _LOG_OP.search(s):
            return "jepsen-log"
        break
    raise HistoryError(str(path), None, "cannot tell the history format; pass --format "
                                        "jsonl, edn or jepsen-log")


_READERS = {"jsonl": read_jsonl, "edn": read_edn, "jepsen-log": read_jepsen_log}


def read_history(path: str | Path, fmt: str = "auto") -> list[Op]:
    """Read a history file into ops numbered by position, validated (process discipline).

    ``fmt`` is ``auto`` (sniffed), ``jsonl``, ``edn`` or ``jepsen-log``.
    """
    p = Path(path)
    src = str(path)
    if fmt not in FORMATS:
        raise HistoryError(src, None, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HistoryError(src, None, "no such file") from None
    except IsADirectoryError:
        raise HistoryError(src, None, "is a directory, not a history file") from None
    except UnicodeDecodeError as e:
        raise HistoryError(src, None, f"not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise HistoryError(src, None, f"cannot read: {e.strerror}") from None
    if fmt == "auto":
        fmt = sniff(p, text)
    ops, lines = _READERS[fmt](text, src)
    _number(ops)
    validate(ops, src, lines)
    return ops


def parse_history(text: str, fmt: str, source: str = "<history>") -> list[Op]:
    """Like :func:`read_history` for text already in memory (``fmt`` must not be auto)."""
    if fmt not in _READERS:
        raise HistoryError(source, None, f"unknown format {fmt!r}")
    ops, lines = _READERS[fmt](text, source)
    _number(ops)
    validate(ops, source, lines)
    return ops


def _number(ops: list[Op]) -> None:
    """Number ops by position, and let them share one object per distinct type, f, key
    and process (see :class:`_Sharer`)."""
    share = _Sharer()
    for i, op in enumerate(ops):
        op.index = i
        share(op)


class _Sharer:
    """Makes ops share one object per distinct type, f, key and process, as a live run's
    ops do: parsed text gives each line its own strings, which costs memory (~30 MB per
    100k ops) and slows every later pass over the history, the checkers' included
    (cache misses; interned strings also compare by identity with the code's constants)."""

    def __init__(self) -> None:
        self.keys: dict[Any, Any] = {}
        self.procs: dict[Any, Any] = {}

    def __call__(self, op: Op) -> None:
        if op.type.__class__ is str:
            op.type = sys.intern(op.type)
        if op.f.__class__ is str:
            op.f = sys.intern(op.f)
        p = op.process
        if p.__class__ is int:
            op.process = self.procs.setdefault(p, p)
        elif p.__class__ is str:
            op.process = sys.intern(p)
        k = op.key
        if k.__class__ is str:
            op.key = sys.intern(k)
        elif k.__class__ is int:
            op.key = self.keys.setdefault(k, k)
