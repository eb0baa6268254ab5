"""``run_check``: files and directories, verdict lines, JSON output and exit codes."""

from __future__ import annotations

import io
import json
import sys
import types
from pathlib import Path

import pytest
from rich.console import Console

from splitbrain.checker.command import expand_paths, run_check
from splitbrain.history.ops import Op

GOOD = ("0 :invoke :write 1\n0 :ok :write 1\n1 :invoke :read nil\n1 :ok :read 1\n")
BAD = ("0 :invoke :write 1\n0 :ok :write 1\n1 :invoke :read nil\n1 :ok :read 2\n")


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=300, color_system=None, highlight=False), buf


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    d = tmp_path / "hist"
    (d / "sub").mkdir(parents=True)
    (d / "a-good.txt").write_text(GOOD)
    (d / "sub" / "b-bad.log").write_text("".join(f"INFO  jepsen.util - {ln}\n" for ln in BAD.splitlines()))
    ops = [Op("invoke", 0, "write", 3, key="k"), Op("ok", 0, "write", 3, key="k"),
           Op("invoke", 1, "read", None, key="k"), Op("ok", 1, "read", 3, key="k")]
    (d / "c.jsonl").write_text("".join(o.to_json() + "\n" for o in ops))
    (d / "README.md").write_text("not a history")
    (d / "nodes").mkdir()
    (d / "nodes" / "n1.log").write_text("garbage 0 :invoke")
    return d


def test_directory_expansion(corpus: Path) -> None:
    files, errors = expand_paths([str(corpus), str(corpus / "missing.edn")])
    assert [f.relative_to(corpus).as_posix() for f in files] == ["a-good.txt", "c.jsonl", "sub/b-bad.log"]
    assert errors == [(str(corpus / "missing.edn"), "no such file or directory")]


def test_exit_codes_and_lines(corpus: Path) -> None:
    con, buf = _console()
    assert run_check([str(corpus / "a-good.txt"), str(corpus / "c.jsonl")], model="cas-register",
                     console=con) == 0
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3 and "valid" in lines[0] and "4 ops" in lines[0]
    assert lines[-1].startswith("2 file(s): 2 valid, 0 invalid, 0 unknown, 0 error(s)")

    con, buf = _console()
    assert run_check([str(corpus)], model="cas-register", console=con) == 1
    out = buf.getvalue()
    bad_line = next(ln for ln in out.splitlines() if "b-bad.log" in ln)
    assert "INVALID" in bad_line and "read() → 2 by process 1 (history index 2)" in bad_line
    assert "3 file(s): 2 valid, 1 invalid" in out


def test_unknown_exit_code(corpus: Path) -> None:
    con, buf = _console()
    assert run_check([str(corpus / "a-good.txt")], model="cas-register", time_limit=1e-9,
                     console=con) == 2
    assert "unknown" in buf.getvalue() and "time limit" in buf.getvalue()


def test_input_errors_still_check_the_rest(corpus: Path) -> None:
    broken = corpus / "broken.edn"
    broken.write_text("{:process 0 :type :invoke :f :read}\n{:process 0 :type\n")
    con, buf = _console()
    code = run_check([str(broken), str(corpus / "sub" / "b-bad.log"), str(corpus / "nope.edn")],
                     model="cas-register", console=con)
    assert code == 3
    out = buf.getvalue()
    assert f"{broken}:2: EDN syntax: '{{' opened here is never closed" in out
    assert "nope.edn: no such file or directory" in out
    assert "INVALID" in out  # the good file was still checked
    con, buf = _console()
    assert run_check([str(corpus / "a-good.txt")], model="kv", console=con) == 3
    assert "model kv cannot check" in buf.getvalue()


def test_model_required_and_unknown(corpus: Path) -> None:
    con, buf = _console()
    assert run_check([str(corpus)], model=None, console=con) == 3
    msg = buf.getvalue().strip()
    assert "\n" not in msg and "--model is required" in msg and "cas-register" in msg and "fifo-queue" in msg
    con, buf = _console()
    assert run_check([str(corpus)], model="nope", console=con) == 3
    assert "unknown model 'nope'" in buf.getvalue()


def test_json_output(corpus: Path) -> None:
    con, buf = _console()
    code = run_check([str(corpus)], model="cas-register", json_out=True, console=con)
    assert code == 1
    doc = json.loads(buf.getvalue())
    assert doc["valid"] is False
    by_name = {Path(f["file"]).name: f for f in doc["files"]}
    assert by_name["a-good.txt"]["valid"] is True
    res = by_name["b-bad.log"]["result"]
    assert res["checker"] == "linearizability" and res["model"] == "cas-register"
    assert res["valid"] is False and res["failures"][0]["failing_op"] is not None
    assert by_name["c.jsonl"]["result"]["partitions_checked"] == 1


def test_elle_checkers(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_check(ops, *, kind, consistency_model, time_limit=None):  # plumbing only
        calls.append((len(ops), kind, consistency_model))
        return {"valid": False, "anomaly_types": ["G1c"], "anomalies": {}}

    fake = types.ModuleType("splitbrain.checker.elle")
    fake.check = fake_check  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "splitbrain.checker.elle", fake)
    import splitbrain.checker as pkg
    monkeypatch.setattr(pkg, "elle", fake, raising=False)
    con, buf = _console()
    assert run_check([str(corpus / "c.jsonl")], model=None, checker="elle-rw-register",
                     console=con) == 1
    assert calls == [(4, "rw-register", "strict-serializable")]
    assert "G1c" in buf.getvalue()
    con, buf = _console()
    assert run_check([str(corpus / "c.jsonl")], model=None, checker="elle-list-append",
                     consistency_model="serializable", console=con) == 1
    assert calls[-1] == (4, "list-append", "serializable")

    con, buf = _console()
    assert run_check([str(corpus)], model=None, checker="nope", console=con) == 3
    assert "unknown checker" in buf.getvalue()


def test_real_elle_is_called(tmp_path: Path) -> None:
    """With the real Elle module: a list-append history with a lost append is caught."""
    pytest.importorskip("splitbrain.checker.elle")
    ops = [Op("invoke", 0, "txn", [["append", "x", 1]]), Op("ok", 0, "txn", [["append", "x", 1]]),
           Op("invoke", 1, "txn", [["r", "x", None]]), Op("ok", 1, "txn", [["r", "x", []]])]
    p = tmp_path / "la.jsonl"
    p.write_text("".join(o.to_json() + "\n" for o in ops))
    con, buf = _console()
    code = run_check([str(p)], model=None, checker="elle-list-append", json_out=True, console=con)
    doc = json.loads(buf.getvalue())
    assert code == 1 and doc["valid"] is False, doc
    assert doc["files"][0]["result"]["anomaly_types"]


def test_run_directory_needs_no_model_and_explains(tmp_path: Path) -> None:
    from splitbrain.reports.rundata import make_run_dir

    ops = [Op("invoke", 0, "write", 1, key="k", index=0), Op("ok", 0, "write", 1, key="k", index=1),
           Op("invoke", 1, "write", 2, key="k", index=2), Op("ok", 1, "write", 2, key="k", index=3),
           Op("invoke", 2, "read", None, key="k", index=4), Op("ok", 2, "read", 1, key="k", index=5)]
    run = make_run_dir(tmp_path / "store", "t", ops, {"valid": True, "model": "cas-register"},
                       {"workload": "register"})
    seen = []
    con, buf = _console()
    code = run_check([str(run)], model=None, console=con,
                     on_checked=lambda p, o, name, r: seen.append((p.name, len(o), name, r)))
    assert code == 1, buf.getvalue()
    line = buf.getvalue().splitlines()[0]
    assert ('key "k": these 2 ops cannot be ordered: write(2) by process 1 (history index 2); '
            "read() → 1 by process 2 (history index 4)") in line
    ((name, n, checker, res),) = seen
    assert (name, n, checker) == ("history.jsonl", 6, "linearizability")
    assert res["failures"][0]["minimal"]["indices"] == [2, 4]
    # without a recorded model, a plain file still needs --model
    (tmp_path / "plain.jsonl").write_text("".join(o.to_json() + "\n" for o in ops))
    con, buf = _console()
    assert run_check([str(tmp_path / "plain.jsonl")], model=None, console=con) == 3
    assert "--model is required" in buf.getvalue()
