"""One registry shape for everything a user names on the command line: systems,
workloads, backends and faults. Built-ins are found by name and imported on demand
(a broken optional dependency of one never breaks the others); plugins are given as
``package.module:Class`` where the registry allows them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from splitbrain.errors import HarnessError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """A built-in: where its class lives (``module:Class``), a line of help, and the
    optional Python packages it needs with the ``pip install 'splitbrain[extra]'`` that
    brings them."""

    target: str
    help: str = ""
    needs: tuple[str, ...] = ()
    extra: str | None = None

    def missing(self) -> str | None:
        """The first package of ``needs`` that is not installed, if any."""
        for mod in self.needs:
            if importlib.util.find_spec(mod) is None:
                return mod
        return None


def plugins_from_cwd(refs: list[str | None]) -> None:
    """Make the working directory importable for plugins the user *typed* on the
    command line (``--system mod:Class``), as ``python -m`` would: plugins sit next to
    the user.

    Call it only for names typed on the command line — never for names read from a
    file (``--from test.json``, a store being recovered), which may come from someone
    else. The directory goes *last* on ``sys.path``, so it can add modules but never
    shadow the standard library or an installed package.
    """
    if not any(isinstance(r, str) and ":" in r for r in refs):
        return
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)


def load_class(ref: str, what: str, flag: str | None = None) -> type:
    """Import ``package.module:Class`` (a user plugin) with a one-line error on failure.

    Only what is importable already is imported: the working directory is on the
    path only when :func:`plugins_from_cwd` put it there for a typed name.
    """
    who = f"{flag} {ref}" if flag else f"{what} {ref!r}"
    if ":" not in ref:
        raise HarnessError(f"{who}: expected package.module:Class")
    mod_name, cls_name = ref.split(":", 1)
    if not all(part.isidentifier() for part in mod_name.split(".")) or \
            not cls_name.isidentifier():
        raise HarnessError(f"{who}: expected package.module:Class")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        hint = ""
        if os.path.isfile(f"{mod_name.split('.')[0]}.py") or os.path.isdir(mod_name.split(".")[0]):
            hint = (": a plugin named by a file (not typed with --system/--workload) is not "
                    "imported from the working directory; if you trust it, set PYTHONPATH=.")
        raise HarnessError(f"{who}: cannot import {mod_name} ({e}){hint}") from None
    try:
        return getattr(mod, cls_name)
    except AttributeError:
        raise HarnessError(f"{who}: {mod_name} has no {cls_name}") from None


class Registry(Generic[T]):
    """Named built-in classes of one kind (``what``: "system", "workload" ...)."""

    def __init__(self, what: str, entries: dict[str, Entry], *, base: type | None = None,
                 plugins: bool = True, flag: str | None = None) -> None:
        self.what, self.entries, self.base, self.plugins = what, entries, base, plugins
        self.flag = flag or f"--{what}"

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def help(self, name: str) -> str:
        return self.entries[name].help

    def is_plugin(self, name: str) -> bool:
        return name not in self.entries and ":" in name

    def check(self, name: str) -> None:
        """Refuse an unknown built-in name (one line naming the flag) without importing."""
        if name in self.entries or (self.plugins and ":" in name):
            return
        extra = " or a plugin as package.module:Class" if self.plugins else ""
        raise HarnessError(f"{self.flag} {name}: unknown {self.what}; choose one of "
                           f"{', '.join(self.entries)}{extra}")

    def load(self, name: str) -> type[T]:
        """The class registered as ``name``, or the plugin class ``name`` names."""
        self.check(name)
        entry = self.entries.get(name)
        if entry is None:
            cls = load_class(name, self.what, self.flag)
        else:
            missing = entry.missing()
            if missing is not None:
                raise self._not_installed(name, entry, missing)
            mod, _, attr = entry.target.partition(":")
            try:
                cls = getattr(importlib.import_module(mod), attr)
            except ModuleNotFoundError as e:
                if (e.name or "").split(".")[0] == "splitbrain":
                    raise  # our own module is missing: a bug, not a missing dependency
                raise self._not_installed(name, entry, e.name or "?") from None
        if self.base is not None and not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise HarnessError(f"{self.what} {name!r} is not a {self.base.__module__}."
                               f"{self.base.__qualname__} subclass")
        return cls

    def _not_installed(self, name: str, entry: Entry, package: str) -> HarnessError:
        how = (f"pip install 'splitbrain[{entry.extra}]'" if entry.extra
               else f"pip install {package}")
        return HarnessError(f"{self.flag} {name}: needs the Python package {package!r}, "
                            f"which is not installed ({how})")
