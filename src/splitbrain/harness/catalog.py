"""What a user can name and set: systems, workloads, faults and backends, with their
options, capabilities and who supports what.

``splitbrain list`` prints these tables, and ``docs/reference.md`` is generated from
:func:`reference_markdown` (``splitbrain list --markdown > docs/reference.md``); a unit
test fails when that file is out of date, so the reference cannot drift from the code.
Everything here is read from the classes' own declarations (``System.options``,
``capabilities`` and ``supports``; ``Workload.options`` and ``requires``;
``Fault.options``, ``needs``, ``network`` and ``min_nodes``; the registries' entries).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from splitbrain.clusters.backends import BACKENDS
from splitbrain.clusters.system import SystemOption, parse_bool
from splitbrain.clusters.systems import SYSTEMS
from splitbrain.errors import HarnessError
from splitbrain.nemesis.fault import Context, Fault
from splitbrain.nemesis.faults import FAULT_REGISTRY, make_fault
from splitbrain.nemesis.programs import PROGRAMS, make_program
from splitbrain.nemesis.schedule import NEMESIS_OPTIONS
from splitbrain.registry import Registry
from splitbrain.workloads import WORKLOAD_REGISTRY

#: the node count and network used to ask a fault whether a system can take it
_PROBE_NODES = 5


@dataclass
class OptionInfo:
    """One ``-o`` / ``-w`` / ``-O`` option."""

    key: str
    default: str
    type: str
    help: str


@dataclass
class Item:
    """A system, workload, fault or backend as ``splitbrain list`` shows it."""

    name: str
    help: str
    options: list[OptionInfo] = field(default_factory=list)
    #: systems: capabilities of the client (None: undeclared); workloads: what they need
    capabilities: list[str] | None = None
    #: systems: the faults they can take; faults: the built-in systems that can take them
    supports: list[str] = field(default_factory=list)
    #: anything else worth a column (a fault's limits, a backend's extra)
    notes: str = ""
    #: set when the class could not be loaded here (a missing optional package)
    error: str | None = None


def type_name(o: SystemOption) -> str:
    """How an option's value is written: ``true/false``, ``integer >= 1``, a choice ..."""
    if o.choices:
        return " / ".join(o.choices)
    t = o.type
    named = {str: "text", int: "integer", float: "number", parse_bool: "true/false"}
    if t in named:
        return named[t]
    if not isinstance(t, type) and type(t).__str__ is not object.__str__:
        return str(t)   # parsers that say what they take (IntAtLeast ...)
    return "text"


def _shown(v: Any) -> str:
    if v is None or v == "" or v == ():
        return "—"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return ",".join(map(str, v))
    return str(v)


def option_infos(options: dict[str, SystemOption]) -> list[OptionInfo]:
    """Declared options as rows, sorted by key."""
    return [OptionInfo(k, _shown(o.default), type_name(o), o.help)
            for k, o in sorted(options.items())]


def _class(reg: Registry, name: str) -> Any:
    """The registered class without the optional-package check: its declarations are
    readable even where the package its backend or client needs is not installed."""
    mod, _, attr = reg.entries[name].target.partition(":")
    return getattr(importlib.import_module(mod), attr)


def _loaded(reg: Any, name: str) -> tuple[Item, Any]:
    """A registry entry's Item and its loaded class, or the Item carrying why it failed
    to load (None for the class)."""
    item = Item(name, reg.help(name))
    try:
        return item, reg.load(name)
    except HarnessError as e:
        item.error = str(e)
        return item, None


def systems() -> list[Item]:
    """Every built-in system with its ``-o`` options, capabilities and supported faults."""
    out = []
    for name in SYSTEMS:
        item, cls = _loaded(SYSTEMS, name)
        out.append(item)
        if cls is None:
            continue
        item.options = option_infos(cls.options)
        item.capabilities = sorted(cls.capabilities) if cls.capabilities is not None else None
        item.supports = sorted(cls.supports)
    return out


def workloads() -> list[Item]:
    """Every built-in workload with its ``-w`` options and the capabilities it needs."""
    out = []
    for name in WORKLOAD_REGISTRY:
        item, cls = _loaded(WORKLOAD_REGISTRY, name)
        out.append(item)
        if cls is None:
            continue
        item.options = option_infos(cls.declared_options())
        item.capabilities = sorted(cls.requires)
    return out


def faults() -> list[Item]:
    """Every ``--nemesis`` fault with its ``-O`` options and the systems that can take it."""
    system_classes = []
    for name in SYSTEMS:
        try:
            system_classes.append((name, SYSTEMS.load(name)))
        except HarnessError:
            continue
    out = []
    for name in FAULT_REGISTRY:
        item = Item(name, FAULT_REGISTRY.help(name))
        fault = make_fault(name, Context(system=None, nodes=[]))
        item.options = [OptionInfo(k, "", "", NEMESIS_OPTIONS.get(k, "")) for k in fault.options]
        for sys_name, cls in system_classes:
            try:   # the base check: what the system supports (not the fault's own inputs)
                Fault.check_plan(fault, cls, _PROBE_NODES, True)
            except HarnessError:
                continue
            item.supports.append(sys_name)
        notes = []
        if fault.needs:
            notes.append(f"a system whose `supports` lists {fault.needs}")
        if fault.network:
            notes.append("nodes with their own network (not --backend local)")
        least = _fewest_nodes(fault, [c for _, c in system_classes])
        if least > 1:
            notes.append(f"at least {least} nodes")
        item.notes = "; ".join(notes)
        out.append(item)
    for name, help_ in PROGRAMS.items():   # schedules of their own, over the faults above
        item = Item(name, help_)
        program = make_program(name, Context(system=None, nodes=[]), interval=1.0, seed=0)
        kinds = [make_fault(k, Context(system=None, nodes=[])) for k in program.fault_names()]
        item.options = [OptionInfo("mix", "", "", NEMESIS_OPTIONS["mix"])] \
            if name == "mixed" else []
        for sys_name, cls in system_classes:
            try:
                for f in kinds:
                    Fault.check_plan(f, cls, _PROBE_NODES, True)
            except HarnessError:
                continue
            item.supports.append(sys_name)
        item.notes = "a program: overlapping faults of kinds " + \
            ", ".join(sorted({f.name for f in kinds}))
        out.append(item)
    return out


def _fewest_nodes(fault: Fault, classes: list[type]) -> int:
    """The smallest node count the fault's own preflight accepts (its declared
    ``min_nodes`` when it needs inputs to say, e.g. partition-grudge's file)."""
    for n in range(1, _PROBE_NODES + 1):
        for cls in classes:
            try:
                fault.check_plan(cls, n, True)
                return n
            except HarnessError:
                continue
    return fault.min_nodes


def nemesis_options() -> list[OptionInfo]:
    """Every ``-O`` key with its help, and the faults that read it."""
    readers: dict[str, list[str]] = {}
    for f in faults():
        for o in f.options:
            readers.setdefault(o.key, []).append(f.name)
    return [OptionInfo(k, "", ", ".join(readers.get(k, [])) or "—", h)
            for k, h in sorted(NEMESIS_OPTIONS.items())]


def backends() -> list[Item]:
    """Every backend: what it needs, whether network faults work there, its pip extra."""
    out = []
    for name in BACKENDS:
        entry = BACKENDS.entries[name]
        item = Item(name, entry.help)
        cls = _class(BACKENDS, name)
        item.supports = ["partition", "packet-loss", "netem"] if cls.isolated_network else []
        item.notes = f"pip install 'splitbrain[{entry.extra}]'" if entry.extra else ""
        missing = entry.missing()
        if missing:
            item.error = f"not installed here: {item.notes}"
        out.append(item)
    return out


# -- markdown --------------------------------------------------------------------------

def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out


def _options_md(flag: str, options: list[OptionInfo]) -> list[str]:
    if not options:
        return [f"No `{flag}` options.", ""]
    return _table([f"`{flag}` key", "default", "value", "meaning"],
                  [[f"`{o.key}`", f"`{o.default}`" if o.default != "—" else "—", o.type, o.help]
                   for o in options]) + [""]


def reference_markdown() -> str:
    """The whole of ``docs/reference.md``."""
    lines = [
        "# Reference: systems, workloads, faults, backends",
        "",
        "<!-- Generated by `splitbrain list --markdown > docs/reference.md`; do not edit: "
        "tests/unit/test_catalog.py fails when this file is out of date. -->",
        "",
        "What `--system`, `--workload`, `--nemesis` and `--backend` accept, with every "
        "`-o`, `-w` and `-O` option. `splitbrain list` prints the same tables. A workload "
        "runs on a system whose client offers the capabilities the workload needs; a fault "
        "runs where the system supports it. Both are checked before any node starts.",
        "",
        "## Systems (`--system`, options `-o key=value`)",
        "",
    ]
    sys_items = systems()
    lines += _table(["system", "what", "client capabilities", "faults it can take"],
                    [[f"`{s.name}`", s.help, ", ".join(s.capabilities or []) or "undeclared",
                      ", ".join(s.supports)] for s in sys_items]) + [""]
    lines.append("`partition`, `packet-loss` and `netem` work with every system; `supports` "
                 "lists the faults that need the system's help (kill, pause, clock, member).")
    lines.append("")
    for s in sys_items:
        lines += [f"### `{s.name}`", ""] + _options_md("-o", s.options)
    lines += ["## Workloads (`--workload`, options `-w key=value`)", ""]
    wl_items = workloads()
    lines += _table(["workload", "what", "needs (capabilities)"],
                    [[f"`{w.name}`", w.help, ", ".join(w.capabilities or [])]
                     for w in wl_items]) + [""]
    lines.append("A plugin workload is `--workload package.module:Class` "
                 "(see [plugins.md](plugins.md)).")
    lines.append("")
    for w in wl_items:
        lines += [f"### `{w.name}`", ""] + _options_md("-w", w.options)
    lines += ["## Faults (`--nemesis`, options `-O key=value`)", ""]
    lines += _table(["fault", "what", "`-O` options", "built-in systems that can take it",
                     "needs"],
                    [[f"`{f.name}`", f.help, ", ".join(f"`{o.key}`" for o in f.options) or "—",
                      ", ".join(f.supports) or "none", f.notes or "—"] for f in faults()])
    lines += ["", "### `-O` options", ""]
    lines += _table(["key", "read by", "meaning"],
                    [[f"`{o.key}`", o.type, o.help] for o in nemesis_options()])
    lines += ["", "## Backends (`--backend`)", ""]
    lines += _table(["backend", "what it needs", "network faults", "pip extra"],
                    [[f"`{b.name}`", b.help, "yes" if b.supports else "no (shared network)",
                      f"`{b.notes}`" if b.notes else "— (always installed)"]
                     for b in backends()])
    lines += ["", "`auto` (the default) picks docker where a Docker engine answers, else "
              "netns as root, else local; `test.json` records the backend actually used.", ""]
    return "\n".join(lines)


# -- terminal --------------------------------------------------------------------------

SECTIONS = ("systems", "workloads", "faults", "backends")


def print_catalog(console: Any, what: str = "all") -> None:
    """``splitbrain list``: the tables of ``what`` (a section name or ``all``) as rich tables."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table as RichTable

    class Table(RichTable):
        """A rich table whose cells are plain text (``[docker]`` is no markup)."""

        def add_row(self, *cells: Any, **kw: Any) -> None:
            super().add_row(*(escape(str(c)) for c in cells), **kw)

    def options_table(title: str, flag: str, options: list[OptionInfo]) -> Table:
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        for col in (f"{flag} key", "default", "value", "meaning"):
            t.add_column(col, overflow="fold")
        for o in options:
            t.add_row(o.key, o.default, o.type, o.help)
        return t

    def broken(items: list[Item]) -> None:
        for i in items:
            if i.error:
                console.print(f"[yellow]{escape(i.name)}: {escape(i.error)}[/]")

    if what in ("all", "systems"):
        items = systems()
        t = Table(title="Systems (--system, -o key=value)", title_justify="left")
        for col in ("system", "what", "client capabilities", "faults it can take"):
            t.add_column(col, overflow="fold")
        for s in items:
            t.add_row(s.name, s.help, ", ".join(s.capabilities or []) or "undeclared",
                      ", ".join(s.supports))
        console.print(t)
        broken(items)
        for s in items:
            if s.options:
                console.print(options_table(f"{s.name}: -o options", "-o", s.options))
        console.print()
    if what in ("all", "workloads"):
        items = workloads()
        t = Table(title="Workloads (--workload, -w key=value; plugins: package.module:Class)",
                  title_justify="left")
        for col in ("workload", "what", "needs"):
            t.add_column(col, overflow="fold")
        for w in items:
            t.add_row(w.name, w.help, ", ".join(w.capabilities or []))
        console.print(t)
        broken(items)
        for w in items:
            console.print(options_table(f"{w.name}: -w options", "-w", w.options))
        console.print()
    if what in ("all", "faults"):
        t = Table(title="Faults (--nemesis, -O key=value)", title_justify="left")
        for col in ("fault", "what", "-O options", "systems", "needs"):
            t.add_column(col, overflow="fold")
        for f in faults():
            t.add_row(f.name, f.help, ", ".join(o.key for o in f.options) or "—",
                      ", ".join(f.supports) or "none", f.notes or "—")
        console.print(t)
        t = Table(title="-O options", title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("key", "read by", "meaning"):
            t.add_column(col, overflow="fold")
        for o in nemesis_options():
            t.add_row(o.key, o.type, o.help)
        console.print(t)
        console.print()
    if what in ("all", "backends"):
        t = Table(title="Backends (--backend; auto: docker, else netns as root, else local)",
                  title_justify="left")
        for col in ("backend", "what it needs", "network faults", "pip extra", "here"):
            t.add_column(col, overflow="fold")
        for b in backends():
            t.add_row(b.name, b.help, "yes" if b.supports else "no",
                      b.notes or "—", "not installed" if b.error else "installed")
        console.print(t)
