"""The CLI as a user runs it, against the in-process stand-in plugin (standin.py).

This exercises the harness's own plumbing (runner, store, history, exit codes,
Ctrl-C handling); the systems under test have their own integration tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYSTEM = "standin:StandinSystem"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("SPLITBRAIN_REQUIRE_DOCKER", None)
    return env


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splitbrain.cli", *args], capture_output=True,
                          text=True, env=_env(), timeout=timeout)


def base_args(store: Path, *extra: str) -> list[str]:
    return ["test", "--system", SYSTEM, "--backend", "local", "--workload", "register",
            "--nemesis", "none", "--concurrency", "4", "--rate", "0", "--quiet",
            "--recovery-time", "0", "--store", str(store), *extra]


def load_history(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_history_shape(ops: list[dict], concurrency: int) -> None:
    """invoke -> exactly one completion per process; no process reused after info."""
    open_: dict = {}
    crashed: set = set()
    for i, op in enumerate(ops):
        assert op["index"] == i
        p = op["process"]
        if p == "nemesis":
            continue
        assert p % concurrency in range(concurrency)
        if op["type"] == "invoke":
            assert p not in open_ and p not in crashed, op
            open_[p] = op
        else:
            inv = open_.pop(p)
            assert inv["f"] == op["f"] and op["time"] >= inv["time"]
            if op["type"] == "info":
                crashed.add(p)


def test_valid_run_stores_everything(tmp_path: Path) -> None:
    store = tmp_path / "store"
    r = run_cli(*base_args(store, "--time-limit", "3", "--seed", "7", "--name", "standin-ok"))
    assert r.returncode == 0, r.stderr
    latest = store / "latest"
    assert latest.is_symlink()
    run = latest.resolve()
    assert run.parent.name == "standin-ok"
    for f in ("test.json", "history.jsonl", "results.json", "splitbrain.log"):
        assert (run / f).is_file(), f
    spec = json.loads((run / "test.json").read_text())
    assert spec["seed"] == 7 and spec["system"] == SYSTEM and spec["concurrency"] == 4
    ops = load_history(run / "history.jsonl")
    assert len(ops) > 100
    check_history_shape(ops, 4)
    results = json.loads((run / "results.json").read_text())
    assert results["valid"] is True
    assert results["stats"]["ops"] == sum(1 for o in ops if o["type"] == "invoke")
    assert "VALID" in r.stdout and "VALID" not in r.stderr  # verdict on stdout, progress on stderr


def test_lost_writes_are_found_invalid(tmp_path: Path) -> None:
    r = run_cli(*base_args(tmp_path / "s", "--time-limit", "3", "-o", "lose_writes=true"))
    assert r.returncode == 1, r.stderr
    results = json.loads((tmp_path / "s" / "latest" / "results.json").read_text())
    assert results["valid"] is False


def test_info_ops_retire_processes(tmp_path: Path) -> None:
    r = run_cli(*base_args(tmp_path / "s", "--time-limit", "2", "-o", "flaky=true"))
    assert r.returncode in (0, 1), r.stderr
    ops = load_history(tmp_path / "s" / "latest" / "history.jsonl")
    infos = [o for o in ops if o["type"] == "info"]
    assert infos, "flaky=true must produce info ops"
    check_history_shape(ops, 4)
    assert max(o["process"] for o in ops) >= 4  # a retired process came back as p + 4


def test_rerun_from_test_json_uses_same_spec(tmp_path: Path) -> None:
    store = tmp_path / "s"
    assert run_cli(*base_args(store, "--time-limit", "1", "--seed", "99")).returncode == 0
    first = (store / "latest").resolve()
    r = run_cli("test", "--from", str(first / "test.json"), "--quiet")
    assert r.returncode == 0, r.stderr
    second = (store / "latest").resolve()
    assert second != first
    a = json.loads((first / "test.json").read_text())
    b = json.loads((second / "test.json").read_text())
    assert a == b


def test_sigint_keeps_history_heals_and_tears_down(tmp_path: Path) -> None:
    store = tmp_path / "s"
    marker = tmp_path / "teardown.marker"
    p = subprocess.Popen([sys.executable, "-m", "splitbrain.cli",
                          *base_args(store, "--time-limit", "60", "-o", "slow=0.01",
                                     "-o", f"marker={marker}")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    hist = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cands = list(store.glob("*/*/history.jsonl"))
        if cands and cands[0].stat().st_size > 2000:
            hist = cands[0]
            break
        time.sleep(0.2)
    assert hist is not None, "history never reached the disk while running"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 3, err
    assert "interrupted" in err
    assert "Traceback" not in err
    ops = load_history(hist)
    assert len(ops) > 10
    check_history_shape(ops, 4)
    assert marker.read_text().strip() == "teardown"
    results = json.loads((hist.parent / "results.json").read_text())
    assert results["valid"] == "error" and "interrupted" in results["error"]


def test_bad_input_is_one_line_exit_3(tmp_path: Path) -> None:
    cases = [
        base_args(tmp_path, "--concurrency", "0"),
        ["test", "--system", "nosuch", "--store", str(tmp_path), "--quiet"],
        base_args(tmp_path, "-o", "nonsense"),
        base_args(tmp_path, "-o", "unknown_opt=1"),
        ["test", "--time-limit", "abc"],
        ["test", "--bogus"],
        base_args(tmp_path, "--rate", "nan"),
        base_args(tmp_path, "--time-limit", "inf"),
        base_args(tmp_path, "--nodes", "-1"),
        base_args(tmp_path, "--nodes", "abc"),
        base_args(tmp_path, "--nemesis", "bogus"),
        base_args(tmp_path, "--nemesis-targets", "most"),
        ["test", "--from", str(tmp_path / "nope.json")],
    ]
    for args in cases:
        r = run_cli(*args)
        assert r.returncode == 3, (args, r.returncode, r.stderr)
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
        if lines and lines[0].startswith("Usage: splitbrain test"):
            lines = lines[1:]   # a usage error shows the usage line first
        assert len(lines) == 1, (args, r.stderr)
        assert "Traceback" not in r.stderr
        assert lines[0].startswith("splitbrain: error:"), lines


def test_a_workload_the_plugin_cannot_serve_is_refused_before_any_node(tmp_path: Path) -> None:
    store = tmp_path / "store"
    r = run_cli(*base_args(store, "--workload", "append"))
    assert r.returncode == 3
    assert r.stderr.strip() == ("splitbrain: error: --workload append: needs txn, which system "
                                "'standin' does not offer (it offers: cas, read, write)")
    assert not store.exists()   # refused before a run directory, let alone a node


def test_check_of_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    r = run_cli("check", str(missing), "--model", "cas-register")
    assert r.returncode == 3
    assert str(missing) in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    r = run_cli("--debug", *base_args(tmp_path, "--concurrency", "0"))
    assert r.returncode != 0
    assert "Traceback" in r.stderr
