"""The README's plugin example (examples/tinykv.py) runs as documented: a real
daemon per node; SIGKILL loses its in-memory data and splitbrain says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(store: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "splitbrain.cli", "test", "--system", "tinykv:TinyKV",
         "--backend", "local", "--nodes", "1", "--nemesis", "kill", "--nemesis-interval", "2",
         "--time-limit", "30", "--ops-per-key", "1000", "--quiet", "--recovery-time", "1",
         "--store", str(store), *extra],
        cwd=EXAMPLES, capture_output=True, text=True, timeout=300)


def test_tinykv_without_persistence_loses_writes(tmp_path: Path) -> None:
    r = run(tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    results = json.loads((tmp_path / "latest" / "results.json").read_text())
    assert results["checkers"]["linearizability"]["valid"] is False


def test_tinykv_with_persistence_is_valid(tmp_path: Path) -> None:
    r = run(tmp_path, "-o", "persist=true")
    assert r.returncode == 0, r.stderr[-2000:]
    ops = [json.loads(x) for x in (tmp_path / "latest" / "history.jsonl").read_text().splitlines()]
    assert sum(1 for o in ops if o["process"] == "nemesis" and o["f"] == "kill") >= 2
