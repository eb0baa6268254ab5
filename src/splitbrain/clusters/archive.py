"""Tar archives copied off nodes (Docker's get_archive, ssh's tar stream)."""

from __future__ import annotations

import os
import tarfile
from typing import IO


def extract_renamed(fileobj: IO[bytes], top: str, local_path: str) -> None:
    """Extract a tar whose top entry is ``top`` so that ``top`` lands at ``local_path``."""
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for m in tar:
            rel = m.name[len(top):].lstrip("/") if m.name.startswith(top) else None
            if rel is None:
                continue
            dest = os.path.join(local_path, rel) if rel else local_path
            if m.isdir():
                os.makedirs(dest, exist_ok=True)
            elif m.isfile():
                os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
                src = tar.extractfile(m)
                with open(dest, "wb") as f:
                    while chunk := src.read(1 << 20) if src else b"":
                        f.write(chunk)
                os.chmod(dest, m.mode & 0o777)
            elif m.issym():
                if os.path.lexists(dest):
                    os.unlink(dest)
                os.symlink(m.linkname, dest)
