"""``splitbrain check FILE...``: check recorded histories, one verdict line per file.

Exit codes (Jepsen's): 0 all valid, 1 any invalid, 2 any unknown and none invalid,
3 an input error (a bad file or option; the other files are still checked).
"""

from __future__ import annotations

import json
import math
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splitbrain.checker.models import MODELS
from splitbrain.errors import HistoryError, ModelError
from splitbrain.history.ops import Op
from splitbrain.verdict import WORDS, merge, word

CHECKERS = ("linearizability", "elle-list-append", "elle-rw-register")
HISTORY_SUFFIXES = (".jsonl", ".edn", ".log", ".txt")
_NOT_HISTORIES = {"splitbrain.log", "readme.txt", "readme.md", "requirements.txt"}


#: the largest history file checked unless ``--max-size`` says otherwise
DEFAULT_MAX_MB = 512


def refuse_file(p: Path, max_bytes: int | None) -> str | None:
    """Why ``p`` is not checked (a FIFO or device would block or never end; a huge file
    would exhaust memory), or None when it is a regular file within the size limit."""
    try:
        st = p.stat()
    except OSError as e:
        return f"cannot read: {e.strerror}"
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device"
                if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        return f"{kind}, not a history file: refused"
    if max_bytes is not None and st.st_size > max_bytes:
        return (f"{st.st_size / 1e6:.3g} MB, over the {max_bytes / 1e6:g} MB limit "
                f"(raise it with --max-size MB)")
    return None


def _read_error(e: BaseException) -> str:
    """A history that does not parse, as one line."""
    if isinstance(e, RecursionError):
        return "nested too deeply to be a history (JSON/EDN nesting over ~1000 levels)"
    if isinstance(e, ValueError) and "integer string conversion" in str(e):
        return "holds an integer with over 4300 digits, which no history needs"
    if isinstance(e, MemoryError):
        return "too large to check in this much memory"
    return f"cannot check it: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def expand_paths(paths: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files as given; directories -> every history file inside (recursively, sorted).

    Returns the files and ``(path, error)`` pairs for paths that do not exist.
    """
    files: list[Path] = []
    errors: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in HISTORY_SUFFIXES
                and f.name.lower() not in _NOT_HISTORIES
                and not any(part.startswith(".") or part == "nodes"
                            for part in f.relative_to(p).parts))
            if not found:
                errors.append((raw, "directory holds no history files (.jsonl, .edn, .log, .txt)"))
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            errors.append((raw, "no such file or directory"))
    return files, errors


def _word(v: Any) -> str:
    w = word(v)
    return w.upper() if w == "invalid" else w


def _style(v: Any) -> str:
    return "green" if v is True else "bold red" if v is False else "yellow"


def recorded_model(path: Path) -> str | None:
    """The linearizability model recorded by the run a history file belongs to (its
    results.json), so ``splitbrain check RUN_DIR`` needs no ``--model``."""
    from splitbrain.history import store

    res = path.parent / store.RESULTS
    if path.name != store.HISTORY or not res.is_file():
        return None
    try:
        doc = json.loads(res.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    for r in (doc.get("checkers") or {}).values():
        if isinstance(r, dict) and r.get("checker") == "linearizability" and r.get("model"):
            return str(r["model"])
    m = doc.get("model")
    return str(m) if m else None


def _check_one(path: Path, *, checker: str, model: str | None, fmt: str,
               time_limit: float | None, failed_cas_observes: bool,
               consistency_model: str | None,
               on_checked: Callable[[Path, list[Op], str, dict[str, Any]], Any] | None = None
               ) -> tuple[int, dict[str, Any], str]:
    """Read and check one file: (op count, result dict, one-line detail)."""
    from splitbrain.history.formats import read_history

    ops = read_history(path, fmt)
    if checker == "linearizability":
        from splitbrain.checker.counterexample import counterexample_phrase, explain, key_phrase
        from splitbrain.checker.linearizability import check

        model = model or recorded_model(path)
        if not model:
            raise ModelError(f"--model is required for linearizability (the file records no "
                             f"model); models: {', '.join(sorted(MODELS))}")
        res = check(ops, model, time_limit=time_limit, failed_cas_observes=failed_cas_observes)
        if failed_cas_observes:
            res.extra["failed_cas_observes"] = True
        explain({checker: res}, ops, failed_cas_observes=failed_cas_observes)
        d = res.to_json()
        detail = ""
        if d["failures"]:
            f0 = d["failures"][0]
            key = "" if f0["key"] is None else f"{key_phrase(f0['key'])}: "
            cx = counterexample_phrase(f0)
            op = next((o for o in f0["ops"] if o.get("id") == f0.get("failing_op")), None)
            if cx is not None:
                detail = f"{key}{cx}"
            elif op is not None:
                detail = f"{key}{op['desc']} by process {op['process']} (history index {op['index']})"
        elif d["valid"] is not True:
            detail = d["reason"]
        if on_checked is not None:
            on_checked(path, ops, checker, d)
        return len(ops), d, detail
    from splitbrain.checker.elle import check as elle_check

    kind = "list-append" if checker == "elle-list-append" else "rw-register"
    t0 = time.monotonic()
    d = dict(elle_check(ops, kind=kind, consistency_model=consistency_model or "strict-serializable",
                        time_limit=time_limit))
    d.setdefault("elapsed_s", time.monotonic() - t0)
    types = d.get("anomaly_types") or []
    if on_checked is not None:
        on_checked(path, ops, checker, d)
    return len(ops), d, ", ".join(map(str, types))


def run_check(paths: list[str], *, model: str | None, fmt: str = "auto",
              time_limit: float | None = None, failed_cas_observes: bool = False,
              json_out: bool = False, checker: str = "linearizability",
              consistency_model: str | None = None, console: Any = None,
              max_mb: float | None = DEFAULT_MAX_MB,
              on_checked: Callable[[Path, list[Op], str, dict[str, Any]], Any] | None = None
              ) -> int:
    """Check every history in ``paths`` (files or directories) and print verdicts.

    ``on_checked(path, ops, checker, result)`` sees each file checked (reports are
    written from it). Returns the exit code: 0 all valid, 1 any invalid, 2 any unknown
    (none invalid), 3 any input error.
    """
    from rich.console import Console
    from rich.markup import escape

    con = console if console is not None else Console(highlight=False)

    def fatal(msg: str) -> int:
        if json_out:
            _emit_json(con, {"files": [], "valid": None, "error": msg})
        else:
            con.print(f"[red]error:[/red] {escape(msg)}", soft_wrap=True)
        return 3

    if checker not in CHECKERS:
        return fatal(f"unknown checker {checker!r}; use one of {', '.join(CHECKERS)}")
    if checker == "linearizability":
        if not model and not any(recorded_model(f) for f in expand_paths(paths)[0]):
            return fatal(f"--model is required for linearizability; models: {', '.join(sorted(MODELS))}")
        if model and model not in MODELS:
            return fatal(f"--model {model}: unknown model {model!r}; models: "
                         f"{', '.join(sorted(MODELS))}")
    if not paths:
        return fatal("no history files given")
    if checker != "linearizability" and consistency_model is not None:
        from splitbrain.checker.elle import models as elle_models

        if elle_models.canonical_model(consistency_model) is None:
            return fatal(f"--consistency-model {consistency_model}: unknown; choose one of "
                         f"{', '.join(sorted(elle_models.ALL_MODELS))}")
    if time_limit is not None and not (math.isfinite(time_limit) and 0 < time_limit <= 7 * 86400):
        return fatal(f"--time-limit {time_limit}: expected seconds, more than 0 and at most "
                     f"a week")

    files, missing = expand_paths(paths)
    entries: list[dict[str, Any]] = []
    verdicts: list[Any] = []
    input_error = bool(missing)
    for raw, why in missing:
        entries.append({"file": raw, "valid": None, "error": why})
        if not json_out:
            con.print(f"[red]error[/red]  {escape(raw)}: {escape(why)}", soft_wrap=True)
    t_all = time.monotonic()
    width = max((len(str(f)) for f in files), default=10)
    max_bytes = int(max_mb * 1e6) if max_mb else None
    for f in files:
        t0 = time.monotonic()
        msg = refuse_file(f, max_bytes)
        if msg is None:
            try:
                n, d, detail = _check_one(f, checker=checker, model=model, fmt=fmt,
                                          time_limit=time_limit,
                                          failed_cas_observes=failed_cas_observes,
                                          consistency_model=consistency_model,
                                          on_checked=on_checked)
            except (HistoryError, ModelError) as e:
                msg = str(e) if isinstance(e, HistoryError) else f"{f}: {e}"
            except KeyboardInterrupt:
                raise
            except (Exception, RecursionError, MemoryError) as e:  # noqa: BLE001 - this file's error
                msg = f"{f}: {_read_error(e)}"
        else:
            msg = f"{f}: {msg}"
        if msg is not None:
            input_error = True
            entries.append({"file": str(f), "valid": None, "error": msg})
            if not json_out:
                con.print(f"[red]error[/red]  {escape(msg)}", soft_wrap=True)
            continue
        v = d.get("valid")
        verdicts.append(v)
        entries.append({"file": str(f), "ops": n, "valid": v, "result": d})
        if not json_out:
            dt = time.monotonic() - t0
            line = (f"{escape(str(f)).ljust(width)}  {n:>7} ops  "
                    f"[{_style(v)}]{_word(v):<7}[/{_style(v)}]  {dt:7.3f}s")
            if detail:
                line += f"  {escape(detail)}"
            con.print(line, soft_wrap=True)
    overall = merge(verdicts) if verdicts else None
    if json_out:
        _emit_json(con, {"files": entries, "valid": overall})
    else:
        counts = {w: sum(1 for v in verdicts if word(v) == w) for w in WORDS}
        errs = sum(1 for e in entries if "error" in e)
        con.print(f"{len(files) + len(missing)} file(s): {counts['valid']} valid, "
                  f"{counts['invalid']} invalid, {counts['unknown']} unknown, {errs} error(s) "
                  f"in {time.monotonic() - t_all:.2f}s", soft_wrap=True)
    if input_error:
        return 3
    return 0 if overall is True else 1 if overall is False else 2


def _emit_json(con: Any, doc: dict[str, Any]) -> None:
    text = json.dumps(doc, default=str, ensure_ascii=False)
    out = getattr(con, "file", None) or sys.stdout
    out.write(text + "\n")
    out.flush()
