"""``splitbrain check`` with one bad file among many: that file's error, the others
still checked, ``--json`` still printed; FIFOs and devices refused without reading;
size and nesting bounded with a clear line (issue 14)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from splitbrain.checker.command import run_check

GOOD = "0 :invoke :write 1\n0 :ok :write 1\n1 :invoke :read nil\n1 :ok :read 1\n"

BAD_FILES = {
    "deep.jsonl": "[" * 100_000 + "]" * 100_000 + "\n",
    "deep.edn": "[" * 5000 + "]" * 5000 + "\n",
    "type-list.jsonl": '{"index":0,"type":["invoke"],"process":0,"f":"write","value":1}\n',
    "type-list.edn": "{:process 0 :type [:invoke] :f :write}\n",
    "bigint.jsonl": '{"type":"invoke","process":0,"f":"write","value":' + "9" * 5000 + "}\n",
    "bigint.edn": "{:process 0 :type :invoke :f :write :value " + "9" * 5000 + "}\n",
}
EXPECT = {
    "deep.jsonl": "nested too deeply", "deep.edn": "nested too deeply",
    "type-list.jsonl": "'type' must be one of", "type-list.edn": ":type must be one of",
    "bigint.jsonl": "more than 4300 digits", "bigint.edn": "over 4300 digits",
}


def _files(tmp_path: Path) -> list[str]:
    (tmp_path / "a-good.txt").write_text(GOOD)
    (tmp_path / "z-good.txt").write_text(GOOD)
    out = [str(tmp_path / "a-good.txt")]
    for name, text in BAD_FILES.items():
        (tmp_path / name).write_text(text)
        out.append(str(tmp_path / name))
    os.mkfifo(tmp_path / "fifo")
    return out + [str(tmp_path / "fifo"), "/dev/zero", str(tmp_path / "z-good.txt")]


def test_each_bad_file_is_its_own_error_and_the_rest_are_checked(tmp_path: Path):
    buf = io.StringIO()
    con = Console(file=buf, width=400, color_system=None, highlight=False)
    code = run_check(_files(tmp_path), model="register", console=con)
    out = buf.getvalue()
    assert code == 3
    for name, why in EXPECT.items():
        line = next(ln for ln in out.splitlines() if name in ln)
        assert line.startswith("error") and why in line, line
    assert "fifo: a FIFO, not a history file: refused" in out
    assert "/dev/zero: a device, not a history file: refused" in out
    assert out.count("valid ") >= 2 and "z-good.txt" in out
    assert "10 file(s): 2 valid, 0 invalid, 0 unknown, 8 error(s)" in out


def test_json_still_prints_the_summary(tmp_path: Path):
    buf = io.StringIO()
    con = Console(file=buf, width=400, color_system=None, highlight=False)
    code = run_check(_files(tmp_path), model="register", console=con, json_out=True)
    doc = json.loads(buf.getvalue())
    assert code == 3 and doc["valid"] is True
    errors = {Path(e["file"]).name: e["error"] for e in doc["files"] if "error" in e}
    assert set(errors) == set(BAD_FILES) | {"fifo", "zero"}
    assert [Path(e["file"]).name for e in doc["files"] if e.get("valid") is True] == \
        ["a-good.txt", "z-good.txt"]


def test_size_is_bounded(tmp_path: Path):
    big = tmp_path / "big.txt"
    big.write_text(GOOD * 2000)                 # 136 kB
    buf = io.StringIO()
    con = Console(file=buf, width=400, color_system=None, highlight=False)
    assert run_check([str(big)], model="register", console=con, max_mb=0.05) == 3
    assert "0.136 MB, over the 0.05 MB limit (raise it with --max-size MB)" in buf.getvalue()
    assert run_check([str(big)], model="register", console=con, max_mb=1) == 0


@pytest.mark.parametrize("bad", ["nan", "inf", "-1", "0"])
def test_a_bad_time_limit_is_one_line(tmp_path: Path, bad: str):
    (tmp_path / "h.txt").write_text(GOOD)
    r = subprocess.run([sys.executable, "-m", "splitbrain", "check", str(tmp_path / "h.txt"),
                        "--model", "register", "--time-limit", bad], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 3 and "--time-limit" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_a_fifo_does_not_hang_the_cli(tmp_path: Path):
    os.mkfifo(tmp_path / "f.jsonl")
    r = subprocess.run([sys.executable, "-m", "splitbrain", "check", str(tmp_path / "f.jsonl"),
                        str(tmp_path), "--model", "register"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 3 and "a FIFO, not a history file" in r.stdout, r.stdout
