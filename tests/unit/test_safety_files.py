"""Files splitbrain writes and serves as root, against someone who plants links:
the lock file, tar archives copied off nodes, ``serve``, plugins from the cwd."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from splitbrain.clusters.archive import extract_renamed
from splitbrain.clusters.ownership import private_dir
from splitbrain.errors import HarnessError
from splitbrain.harness.locks import lock_test_name

# -- the lock file ------------------------------------------------------------------------


def test_a_symlink_planted_as_the_lock_file_is_refused_not_written_through(tmp_path: Path):
    victim = tmp_path / "root-only"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    locks = private_dir("locks")
    (locks / "sf-victim.lock").symlink_to(victim)
    with pytest.raises(HarnessError, match="cannot open the lock file .*symlink"):
        lock_test_name("sf-victim")
    assert victim.read_text() == "precious\n"
    assert oct(victim.stat().st_mode & 0o777) == "0o600"


def test_lock_files_live_in_a_private_directory(private_state_dir: Path):
    fh = lock_test_name("sf-private")
    try:
        d = private_state_dir / "locks"
        assert (d / "sf-private.lock").is_file()
        assert d.stat().st_mode & 0o777 == 0o700
        assert (d / "sf-private.lock").stat().st_mode & 0o077 == 0
    finally:
        fh.close()


def test_a_locks_directory_that_is_a_symlink_is_refused(private_state_dir: Path,
                                                       tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (private_state_dir / "locks").symlink_to(elsewhere)
    with pytest.raises(HarnessError, match="refuses to follow a symlink"):
        lock_test_name("sf-x")
    assert list(elsewhere.iterdir()) == []


def test_a_world_writable_state_directory_is_tightened(private_state_dir: Path):
    (private_state_dir / "locks").mkdir(mode=0o777)
    os.chmod(private_state_dir / "locks", 0o777)
    lock_test_name("sf-y").close()
    assert (private_state_dir / "locks").stat().st_mode & 0o777 == 0o700


# -- tar archives from nodes ------------------------------------------------------------------

def _tar(*members: tuple[str, str, str | bytes]) -> io.BytesIO:
    """(kind, name, data-or-linkname) members: kind is file, dir, sym or hard."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                raw = data.encode() if isinstance(data, str) else data
                info.size = len(raw)
                t.addfile(info, io.BytesIO(raw))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
                         "hard": tarfile.LNKTYPE}[kind]
            if kind in ("sym", "hard"):
                info.linkname = str(data)
            t.addfile(info)
    buf.seek(0)
    return buf


def test_a_well_formed_archive_lands_renamed(tmp_path: Path):
    dest = tmp_path / "out" / "logs"
    extract_renamed(_tar(("dir", "logs", ""), ("file", "logs/a.log", "A"),
                         ("dir", "logs/sub", ""), ("file", "logs/sub/b.log", "B"),
                         ("sym", "logs/latest", "a.log")), "logs", str(dest))
    assert (dest / "a.log").read_text() == "A" and (dest / "sub" / "b.log").read_text() == "B"
    assert os.readlink(dest / "latest") == "a.log"


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "relative-link-out", "absolute-link"])
def test_tar_slip_is_refused_and_nothing_lands_outside(tmp_path: Path, kind: str):
    outside = tmp_path / "outside"
    outside.mkdir()
    members = {
        "dotdot": [("file", "logs/../../../../outside/escaped", "x")],
        "absolute": [("file", str(outside / "escaped"), "x"),
                     ("file", "/" + str(outside / "escaped").lstrip("/"), "x")],
        "relative-link-out": [("sym", "logs/up", "../../../../outside"),
                              ("file", "logs/up/escaped", "x")],
        "absolute-link": [("sym", "logs/out", str(outside)), ("file", "logs/out/escaped", "x")],
    }[kind]
    dest = tmp_path / "run" / "nodes" / "n1" / "logs"
    top = "/" if kind == "absolute" else "logs"
    with pytest.raises(HarnessError, match="refusing"):
        extract_renamed(_tar(("dir", "logs", ""), *members), top, str(dest))
    assert list(outside.iterdir()) == []


def test_no_write_through_a_link_made_earlier_in_the_same_archive(tmp_path: Path):
    """``a -> b`` points inside, but a later ``a/x`` would write through it: refused."""
    dest = tmp_path / "logs"
    with pytest.raises(HarnessError, match="symlink"):
        extract_renamed(_tar(("dir", "logs", ""), ("dir", "logs/b", ""), ("sym", "logs/a", "b"),
                             ("file", "logs/a/x", "x")), "logs", str(dest))
    assert not (dest / "b" / "x").exists()


def test_a_file_entry_replaces_a_symlink_on_disk_instead_of_following_it(tmp_path: Path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    dest = tmp_path / "logs"
    dest.mkdir()
    (dest / "a.log").symlink_to(victim)
    extract_renamed(_tar(("dir", "logs", ""), ("file", "logs/a.log", "new")), "logs", str(dest))
    assert victim.read_text() == "precious"
    assert not (dest / "a.log").is_symlink() and (dest / "a.log").read_text() == "new"


def test_hard_links_and_devices_are_skipped(tmp_path: Path):
    dest = tmp_path / "logs"
    extract_renamed(_tar(("dir", "logs", ""), ("hard", "logs/pw", "/etc/passwd"),
                         ("file", "logs/ok", "ok")), "logs", str(dest))
    assert sorted(p.name for p in dest.iterdir()) == ["ok"]


# -- serve ---------------------------------------------------------------------------------

def test_serve_refuses_a_symlink_out_of_the_store(tmp_path: Path):
    from splitbrain.reports.serve import make_server

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    store = tmp_path / "store"
    (store / "run").mkdir(parents=True)
    (store / "run" / "inside.txt").write_text("fine")
    (store / "run" / "leak.txt").symlink_to(secret)
    (store / "run" / "dirleak").symlink_to(tmp_path)
    (store / "alias").symlink_to(store / "run")            # a link within the store is fine
    server = make_server(store, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        base = f"http://127.0.0.1:{port}"
        assert urllib.request.urlopen(f"{base}/run/inside.txt", timeout=10).read() == b"fine"
        assert urllib.request.urlopen(f"{base}/alias/inside.txt", timeout=10).read() == b"fine"
        for path in ("/run/leak.txt", "/run/dirleak/secret.txt", "/run/dirleak/"):
            with pytest.raises(urllib.error.HTTPError) as ei:
                urllib.request.urlopen(base + path, timeout=10)
            assert ei.value.code == 404
            assert b"TOP SECRET" not in ei.value.read()
    finally:
        server.shutdown()
        server.server_close()


# -- plugins and the working directory -------------------------------------------------------

MARK = "import pathlib, os; pathlib.Path(os.environ['SF_MARK']).write_text('ran')\n" \
       "from splitbrain.clusters.system import System\nclass Evil(System):\n    name = 'evil'\n"


def test_plugin_named_by_a_file_is_not_imported_from_the_cwd(tmp_path: Path):
    (tmp_path / "evilplug.py").write_text(MARK)
    code = ("import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.', "
            f"{str(tmp_path)!r})]\n"
            "from splitbrain.registry import load_class\n"
            "from splitbrain.errors import HarnessError\n"
            "try:\n    load_class('evilplug:Evil', 'system')\n"
            "except HarnessError as e:\n    print(e)\n")
    env = {**os.environ, "SF_MARK": str(tmp_path / "mark")}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, env=env, timeout=60)
    assert "cannot import evilplug" in r.stdout and "PYTHONPATH=." in r.stdout, r.stdout + r.stderr
    assert not (tmp_path / "mark").exists()


def test_a_typed_plugin_loads_from_the_cwd_placed_last(tmp_path: Path):
    (tmp_path / "goodplug.py").write_text(MARK.replace("Evil", "Good"))
    (tmp_path / "json.py").write_text("raise SystemExit('the cwd shadowed the stdlib')\n")
    code = ("import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.', "
            f"{str(tmp_path)!r})]\n"
            "from splitbrain.registry import load_class, plugins_from_cwd\n"
            "plugins_from_cwd(['goodplug:Good', None])\n"
            "assert sys.path[-1] == __import__('os').getcwd()\n"
            "import importlib, json; importlib.reload(json)\n"
            "print(load_class('goodplug:Good', 'system').__name__)\n")
    env = {**os.environ, "SF_MARK": str(tmp_path / "mark")}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "Good", r.stdout + r.stderr


def test_python_dash_m_does_not_leave_the_cwd_first_on_the_path(tmp_path: Path):
    (tmp_path / "rich.py").write_text("raise SystemExit('imported rich from the cwd')\n")
    r = subprocess.run([sys.executable, "-m", "splitbrain", "cluster", "status"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "from the cwd" not in r.stderr, r.stderr
