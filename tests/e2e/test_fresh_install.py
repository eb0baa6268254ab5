"""A clean install starts: a brand-new virtualenv with nothing preinstalled, ``pip install .``,
then the CLI works. This is what caught ``click`` being imported but never declared."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pip_install_into_a_fresh_virtualenv_then_the_cli_runs(tmp_path: Path,
                                                                histories: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    exe = env_dir / "bin" / "splitbrain"
    # not editable and from a copy-free build: exactly what a user gets from `pip install .`
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        str(REPO)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Usage: splitbrain" in r.stdout and "check" in r.stdout and "test" in r.stdout
    bad = histories / "knossos" / "cas-register" / "bad" / "immediate-failure.edn"
    r = subprocess.run([str(exe), "check", str(bad), "--model", "cas-register"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "INVALID" in r.stdout and "Traceback" not in r.stderr
    r = subprocess.run([str(exe), "test", "--bogus"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 3 and r.stderr.startswith("Usage: splitbrain test")
    # docker and paramiko are extras: without them the backend names the extra to install
    r = subprocess.run([str(exe), "test", "--backend", "docker", "--name", "fresh-x",
                        "--store", str(tmp_path / "store")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "pip install 'splitbrain[docker]'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "store").exists()
    r = subprocess.run([str(exe), "list", "backends"], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0 and "splitbrain[ssh]" in r.stdout, (r.stdout, r.stderr)
    assert "not installed" in r.stdout
    # the interpreter running this suite is not the one that was tested
    assert Path(sys.executable).resolve() != py.resolve()
