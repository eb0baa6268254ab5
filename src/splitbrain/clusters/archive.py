"""Tar archives copied off nodes (Docker's get_archive, ssh's tar stream).

A node is not trusted to send a well-formed archive: names with ``..`` or an
absolute path, links pointing out of the target, hard links, devices and FIFOs are
refused, and nothing is ever written through a symlink (not one already on disk,
not one made earlier in the same archive).
"""

from __future__ import annotations

import logging
import os
import posixpath
import stat
import tarfile
from typing import IO

from splitbrain.errors import HarnessError

log = logging.getLogger("splitbrain.archive")


def _relative(name: str, top: str) -> str | None:
    """``name`` relative to the archive's top entry, or None when outside it;
    HarnessError for an absolute name or a ``..`` component."""
    if name.startswith("/") or ".." in name.split("/"):
        raise HarnessError(f"refusing archive entry {name!r}: absolute or with '..'")
    norm = posixpath.normpath(name)
    if not top or norm == top:
        return "" if norm in (top, ".") else norm
    if norm.startswith(top.rstrip("/") + "/"):
        return norm[len(top.rstrip("/")) + 1:]
    return None


def _inside(root: str, path: str) -> bool:
    root, path = os.path.abspath(root), os.path.abspath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")


def _no_symlink_between(root: str, dest: str) -> None:
    """Refuse when a directory on the way from ``root`` to ``dest`` is a symlink."""
    rel = os.path.relpath(os.path.dirname(dest), root)
    cur = root
    if os.path.islink(cur):
        raise HarnessError(f"refusing to extract into {root}: it is a symlink")
    if rel == ".":
        return
    for part in rel.split(os.sep):
        cur = os.path.join(cur, part)
        if os.path.islink(cur):
            raise HarnessError(f"refusing to write below {cur}: it is a symlink")


def extract_renamed(fileobj: IO[bytes], top: str, local_path: str) -> None:
    """Extract a tar whose top entry is ``top`` so that ``top`` lands at ``local_path``.

    Entries outside ``top`` are skipped; unsafe ones (see the module doc) raise a
    one-line HarnessError naming the entry. Symlinks are kept only when they point
    inside ``local_path``.
    """
    top = posixpath.normpath(top.strip("/")) if top.strip("/") else ""
    root = os.path.abspath(local_path)
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for m in tar:
            rel = _relative(m.name, top)
            if rel is None:
                continue
            rel = "" if rel == "." else rel
            dest = os.path.join(root, rel) if rel else root
            if not _inside(root, dest):
                raise HarnessError(f"refusing archive entry {m.name!r}: outside the target")
            if rel:
                _no_symlink_between(root, dest)
            if m.isdir():
                if os.path.islink(dest):
                    raise HarnessError(f"refusing archive entry {m.name!r}: {dest} is a symlink")
                os.makedirs(dest, exist_ok=True)
            elif m.isfile():
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                if rel:
                    _no_symlink_between(root, dest)
                if os.path.islink(dest):
                    os.unlink(dest)          # replace a link, never write through it
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK
                fd = os.open(dest, flags, 0o600)
                with os.fdopen(fd, "wb") as f:
                    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                        raise HarnessError(f"refusing to write {dest}: not a regular file")
                    src = tar.extractfile(m)
                    while chunk := src.read(1 << 20) if src else b"":
                        f.write(chunk)
                    os.fchmod(f.fileno(), m.mode & 0o755)
            elif m.issym():
                if not rel:
                    raise HarnessError(f"refusing archive entry {m.name!r}: the top is a symlink")
                link = m.linkname
                target = os.path.normpath(os.path.join(os.path.dirname(dest), link))
                if os.path.isabs(link) or not _inside(root, target) \
                        or not _inside(os.path.realpath(root), os.path.realpath(target)):
                    raise HarnessError(f"refusing symlink {m.name!r} -> {link!r}: it points "
                                       f"out of {local_path}")
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                if os.path.lexists(dest):
                    if os.path.isdir(dest) and not os.path.islink(dest):
                        raise HarnessError(f"refusing symlink {m.name!r}: a directory is there")
                    os.unlink(dest)
                os.symlink(link, dest)
            else:  # hard links, devices, FIFOs: logs never need them
                log.warning("skipping archive entry %s (not a file, directory or symlink)",
                            m.name)
