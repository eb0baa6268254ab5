"""Bad input to `splitbrain test` and `splitbrain check`, run through the real CLI: one
line naming the option, exit 3, no traceback, and (for `test`) no run directory and
no node — every one of them is refused before anything exists.

Run as a script to print the table (input, exit, message):

    python tests/e2e/test_bad_inputs.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

BIN = str(Path(sys.executable).with_name("splitbrain"))
GOOD = "0 :invoke :write 1\n0 :ok :write 1\n1 :invoke :read nil\n1 :ok :read 1\n"
FAST = ["--backend", "local", "--system", "raft"]

#: (label, argv after `splitbrain`, what the message must mention)
CASES: list[tuple[str, list[str], str]] = [
    ("--nodes -1", ["test", *FAST, "--nodes", "-1"], "--nodes"),
    ("--nodes abc", ["test", *FAST, "--nodes", "abc"], "--nodes"),
    ("--nodes 0", ["test", *FAST, "--nodes", "0"], "--nodes"),
    ("--nodes 100", ["test", *FAST, "--nodes", "100"], "--nodes"),
    ("--nodes 1.5", ["test", *FAST, "--nodes", "1.5"], "--nodes"),
    ("--rate nan", ["test", *FAST, "--rate", "nan"], "--rate"),
    ("--rate -5", ["test", *FAST, "--rate", "-5"], "--rate"),
    ("--rate inf", ["test", *FAST, "--rate", "inf"], "--rate"),
    ("--time-limit nan", ["test", *FAST, "--time-limit", "nan"], "--time-limit"),
    ("--time-limit inf", ["test", *FAST, "--time-limit", "inf"], "--time-limit"),
    ("--time-limit -1", ["test", *FAST, "--time-limit", "-1"], "--time-limit"),
    ("--time-limit 0", ["test", *FAST, "--time-limit", "0"], "--time-limit"),
    ("--time-limit abc", ["test", *FAST, "--time-limit", "abc"], "--time-limit"),
    ("--nemesis-interval 0", ["test", *FAST, "--nemesis-interval", "0"], "--nemesis-interval"),
    ("--nemesis-interval nan", ["test", *FAST, "--nemesis-interval", "nan"],
     "--nemesis-interval"),
    ("--concurrency 0", ["test", *FAST, "--concurrency", "0"], "--concurrency"),
    ("--concurrency 100000", ["test", *FAST, "--concurrency", "100000"], "--concurrency"),
    ("--concurrency abc", ["test", *FAST, "--concurrency", "abc"], "--concurrency"),
    ("--nemesis bogus", ["test", *FAST, "--nemesis", "bogus"], "--nemesis"),
    ("--nemesis-targets sideways", ["test", *FAST, "--nemesis", "kill",
                                    "--nemesis-targets", "sideways"], "--nemesis-targets"),
    ("--nemesis partition (local backend)", ["test", *FAST, "--nemesis", "partition"],
     "--nemesis partition"),
    ("--nemesis partition-ring --nodes 2", ["test", "--backend", "docker", "--nodes", "2",
                                            "--nemesis", "partition-ring"], "--nemesis"),
    ("--system nosuch", ["test", "--backend", "local", "--system", "nosuch"], "--system"),
    ("--system nomodule:Cls", ["test", "--backend", "local", "--system", "sf_nomodule:Cls"],
     "--system"),
    ("--workload nosuch", ["test", *FAST, "--workload", "nosuch"], "--workload"),
    ("--backend nosuch", ["test", "--system", "raft", "--backend", "nosuch"], "--backend"),
    ("-o nosuch=1", ["test", *FAST, "-o", "nosuch=1"], "-o"),
    ("-o novalue", ["test", *FAST, "-o", "novalue"], "-o"),
    ("-O nosuch=1", ["test", *FAST, "--nemesis", "kill", "-O", "nosuch=1"], "-O"),
    ("-O grudge_file=g.toml without partition-grudge",
     ["test", *FAST, "--nemesis", "kill", "-O", "grudge_file=g.toml"], "grudge_file"),
    ("--name ../evil", ["test", *FAST, "--name", "../evil"], "--name"),
    ("--name 'a b'", ["test", *FAST, "--name", "a b"], "--name"),
    ("--seed -1", ["test", *FAST, "--seed", "-1"], "--seed"),
    ("--seed abc", ["test", *FAST, "--seed", "abc"], "--seed"),
    ("--ops-per-key 0", ["test", *FAST, "--ops-per-key", "0"], "--ops-per-key"),
    ("--op-limit 0", ["test", *FAST, "--op-limit", "0"], "--op-limit"),
    ("--recovery-time -1", ["test", *FAST, "--recovery-time", "-1"], "--recovery-time"),
    ("--final-time-limit nan", ["test", *FAST, "--final-time-limit", "nan"],
     "--final-time-limit"),
    ("--checker-time-limit 0", ["test", *FAST, "--checker-time-limit", "0"],
     "--checker-time-limit"),
    ("--backend ssh (no hosts)", ["test", "--system", "raft", "--backend", "ssh"],
     "--backend ssh"),
    ("--nodes h1,h2 (no --backend ssh)", ["test", "--system", "raft", "--backend", "local",
                                         "--nodes", "h1,h2"], "--backend ssh"),
    ("--nodes 'bad host!' (ssh)", ["test", "--system", "raft", "--backend", "ssh",
                                   "--nodes", "h1,bad host!"], "--nodes"),
    ("--ssh-key missing", ["test", "--system", "raft", "--backend", "ssh", "--nodes", "h1",
                           "--ssh-key", "/nonexistent/id"], "--ssh-key"),
    ("--ssh-known-hosts missing", ["test", "--system", "raft", "--backend", "ssh", "--nodes",
                                   "h1", "--ssh-known-hosts", "/nonexistent/kh"],
     "--ssh-known-hosts"),
    ("--ssh-port 70000", ["test", "--system", "raft", "--backend", "ssh", "--nodes", "h1",
                          "--ssh-port", "70000"], "--ssh-port"),
    ("--ssh-user 'a;b'", ["test", "--system", "raft", "--backend", "ssh", "--nodes", "h1",
                          "--ssh-user", "a;b"], "--ssh-user"),
    ("--nodes-file missing", ["test", "--system", "raft", "--backend", "ssh", "--nodes-file",
                              "/nonexistent/hosts"], "nodes file"),
    ("--from missing", ["test", "--from", "/nonexistent/test.json"], "/nonexistent"),
    ("--from not JSON", ["test", "--from", "@NOTJSON@"], "not valid JSON"),
    ("--from unknown setting", ["test", "--from", "@UNKNOWNKEY@"], "unknown setting"),
    ("--workload append on a system without txn",
     ["test", "--backend", "local", "--system", "consul", "--workload", "append",
      "--nemesis", "none"], "--workload"),
    ("unknown flag --bogus", ["test", "--bogus"], "--bogus"),
    # check
    ("check (no files)", ["check", "--model", "register"], "history file"),
    ("check missing file", ["check", "/nonexistent.jsonl", "--model", "register"],
     "no such file"),
    ("check --model nosuch", ["check", "@GOOD@", "--model", "nosuch"], "--model"),
    ("check without --model", ["check", "@GOOD@"], "--model"),
    ("check --format nosuch", ["check", "@GOOD@", "--model", "register", "--format", "x"],
     "--format"),
    ("check --checker nosuch", ["check", "@GOOD@", "--checker", "x"], "--checker"),
    ("check --time-limit nan", ["check", "@GOOD@", "--model", "register", "--time-limit",
                                "nan"], "--time-limit"),
    ("check --time-limit -1", ["check", "@GOOD@", "--model", "register", "--time-limit",
                               "-1"], "--time-limit"),
    ("check --max-size 0", ["check", "@GOOD@", "--model", "register", "--max-size", "0"],
     "--max-size"),
    ("check a FIFO", ["check", "@FIFO@", "--model", "register"], "FIFO"),
    ("check /dev/zero", ["check", "/dev/zero", "--model", "register"], "device"),
    ("check deep nesting", ["check", "@DEEP@", "--model", "register"], "nested too deeply"),
    ("check 5000-digit integer", ["check", "@BIGINT@", "--model", "register"], "4300 digits"),
    ("check \"type\": [..]", ["check", "@TYPELIST@", "--model", "register"], "'type'"),
    ("check binary garbage", ["check", "@BINARY@", "--model", "register"], "BINARY"),
    ("check an empty directory", ["check", "@EMPTYDIR@", "--model", "register"],
     "no history files"),
    ("check elle --consistency-model nosuch", ["check", "@GOOD@", "--checker",
                                               "elle-list-append", "--consistency-model",
                                               "nosuch"], "--consistency-model"),
]


def _fixtures(d: Path) -> dict[str, str]:
    (d / "good.txt").write_text(GOOD)
    (d / "notjson.json").write_text("{not json")
    (d / "unknown.json").write_text('{"system": "raft", "frobnicate": 1}')
    (d / "deep.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    (d / "bigint.jsonl").write_text('{"type":"invoke","process":0,"f":"write","value":'
                                    + "9" * 5000 + "}\n")
    (d / "typelist.jsonl").write_text('{"type":["invoke"],"process":0,"f":"read"}\n')
    (d / "BINARY.log").write_bytes(bytes(range(256)) * 64)
    (d / "emptydir").mkdir(exist_ok=True)
    if not (d / "fifo").exists():
        os.mkfifo(d / "fifo")
    return {"@GOOD@": str(d / "good.txt"), "@NOTJSON@": str(d / "notjson.json"),
            "@UNKNOWNKEY@": str(d / "unknown.json"), "@DEEP@": str(d / "deep.jsonl"),
            "@BIGINT@": str(d / "bigint.jsonl"), "@TYPELIST@": str(d / "typelist.jsonl"),
            "@BINARY@": str(d / "BINARY.log"), "@EMPTYDIR@": str(d / "emptydir"),
            "@FIFO@": str(d / "fifo")}


def run_case(argv: list[str], d: Path) -> tuple[int, str, bool]:
    """(exit code, the message line, whether a store appeared) for one bad input."""
    subs = _fixtures(d)
    args = [subs.get(a, a) for a in argv]
    store = d / "store"
    if argv[0] == "test":
        args += ["--store", str(store)] if "--from" not in argv else []
    env = {**os.environ, "COLUMNS": "400"}
    env.pop("PYTHONPATH", None)
    r = subprocess.run([BIN, *args], cwd=d, capture_output=True, text=True, timeout=120,
                       env=env)
    lines = [ln for ln in (r.stderr + r.stdout).splitlines()
             if ln.strip() and not ln.startswith(("Usage:", "Try ")) and "file(s):" not in ln]
    msg = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "")
    return r.returncode, msg.strip(), store.exists() or (d / "store").exists()


@pytest.mark.parametrize("label,argv,mention", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_3_and_no_run_directory(tmp_path: Path, label: str,
                                                           argv: list[str], mention: str):
    code, msg, stored = run_case(argv, tmp_path)
    assert code == 3, f"{label}: exit {code}: {msg}"
    assert mention in msg, f"{label}: the message does not name {mention!r}: {msg}"
    assert "Traceback" not in msg
    assert not stored, f"{label}: a store/run directory was created"


def main() -> None:
    print("| # | input | exit | message |\n| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, argv, _mention) in enumerate(CASES, 1):
            d = Path(tmp) / f"case{i}"
            d.mkdir()
            code, msg, stored = run_case(argv, d)
            msg = msg.replace("|", "\\|").replace(tmp, "$TMP")
            extra = " (a store was created!)" if stored else ""
            print(f"| {i} | `{label}` | {code} | {msg}{extra} |", flush=True)


if __name__ == "__main__":
    main()
