"""The crafted-store proof of concept (issue 14): a store someone else wrote — a
journal entry whose writer is dead, a test.json naming a plugin module placed in
the store and next to it, a fake state.json the journal points at — runs no code
and touches nothing when splitbrain is started from its parent as root.

The fake state.json names a namespace that splitbrain did not make, holding an
iptables chain called SPLITBRAIN: a recovery that trusted the journal would "heal"
(flush) it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root]
TAG = os.getpid() % 100000
BIN = str(Path(sys.executable).with_name("splitbrain"))


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def test_a_crafted_store_runs_no_code_and_touches_nothing(tmp_path: Path, requires_root):
    parent = tmp_path / "parent"
    run = parent / "store" / "evil" / "20260101T000000"
    run.mkdir(parents=True)
    marker = tmp_path / "PWNED"
    plugin = (f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran as root')\n"
              "class Evil:\n    pass\n")
    for d in (parent, parent / "store", run):
        (d / "evilplug.py").write_text(plugin)
    (run / "test.json").write_text(json.dumps({
        "system": "evilplug:Evil", "workload": "evilplug:Evil", "backend": "netns",
        "nodes": 1, "nemesis": ["partition-one"], "name": "evil", "store": "store"}))

    victim = f"sb-poc{TAG}"[:15]
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "state.json").write_text(json.dumps({
        "test": "x", "subnet": "10.99.0.0/24", "bridge": "sbbrx", "nodes": [
            {"name": "n1", "netns": victim, "address": "10.99.0.1", "veth": "sbvx"}]}))
    depth = len(Path("/var/lib/splitbrain/netns").parts) - 1
    sneaky = "../" * depth + str(fake).lstrip("/")
    pid = _dead_pid()
    base = {"event": "apply", "pid": pid, "pid_start": "1", "nodes": {"n1": "10.99.0.1"},
            "detail": {"kind": "partition-one", "grudge": {"n1": ["n2"]},
                       "addresses": {"n1": "10.99.0.1", "n2": "10.99.0.2"}}}
    entries = [
        base | {"id": "a1", "backend": "netns", "test": sneaky, "fault": "partition-one"},
        base | {"id": "a2", "backend": "netns", "test": "evil", "fault": "evilplug:Fault"},
        base | {"id": "a3", "backend": "evilplug:Backend", "test": "evil", "fault": "kill",
                "detail": {"nodes": ["n1"], "daemon": "../../../../bin/sh"}},
        base | {"id": "a4", "backend": "ssh", "test": "evil", "fault": "partition-one",
                "hosts": ["attacker.example"]},
    ]
    (run / "faults.journal").write_text("".join(json.dumps(e) + "\n" for e in entries))

    subprocess.run(["ip", "netns", "add", victim], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", victim, "sh", "-c",
                        "iptables -w -N SPLITBRAIN && iptables -w -A SPLITBRAIN -s 10.99.0.2 "
                        "-j DROP && iptables -w -I INPUT 1 -j SPLITBRAIN"], check=True)
        results = {
            "cluster heal": _run([BIN, "cluster", "heal"], parent),
            "python -m cluster heal": _run([sys.executable, "-m", "splitbrain", "cluster",
                                            "heal"], parent),
            "cluster status": _run([BIN, "cluster", "status"], parent),
            "cluster down --all": _run([BIN, "cluster", "down", "--all"], parent),
            "test (bad input)": _run([BIN, "test", "--time-limit", "nan"], parent),
            "test --from": _run([BIN, "test", "--from", str(run)], parent),
        }
        assert not marker.exists(), "code named by the store ran"
        rules = subprocess.run(["ip", "netns", "exec", victim, "iptables", "-w", "-S"],
                               capture_output=True, text=True).stdout
        assert "-A SPLITBRAIN -s 10.99.0.2/32 -j DROP" in rules, "a namespace not ours was touched"
        assert json.loads((fake / "state.json").read_text())["nodes"][0]["netns"] == victim

        heal = results["cluster heal"]
        assert heal.returncode == 3, heal.stdout + heal.stderr      # refused = not healed
        assert heal.stdout.count("refusing a journal entry") == 3, heal.stdout
        assert "bad cluster name" in heal.stdout and "unknown fault 'evilplug:Fault'" in \
            heal.stdout and "unknown backend 'evilplug:Backend'" in heal.stdout, heal.stdout
        assert "ssh run heals through its claim" in heal.stdout, heal.stdout
        assert results["python -m cluster heal"].returncode == 3
        assert results["cluster status"].returncode == 0
        assert "no clusters" in results["cluster status"].stdout
        assert results["cluster down --all"].returncode == 0
        assert "0 removed" in results["cluster down --all"].stdout
        assert results["test (bad input)"].returncode == 3
        frm = results["test --from"]
        assert frm.returncode == 3 and "cannot import evilplug" in frm.stderr and \
            "PYTHONPATH=." in frm.stderr, frm.stderr
        for r in results.values():
            assert "Traceback" not in r.stderr, r.stderr
    finally:
        subprocess.run(["ip", "netns", "delete", victim], check=False)
