"""The command line. Thin: parses options, calls the harness, maps outcomes to exit codes.

``splitbrain test``'s options are generated from :class:`~splitbrain.harness.spec.TestSpec`'s
fields (flag, help and default written once, there). Exit codes (as Jepsen's): 0 valid,
1 invalid, 2 unknown, 3 the harness failed or the input was bad (including a usage
error, which also prints the usage line), with one line on stderr and no traceback
unless ``--debug``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from splitbrain.errors import HarnessError
from splitbrain.harness.spec import TestSpec, flag_of, parse_kv, parse_list, spec_fields

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_state: dict[str, Any] = {"debug": False}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="splitbrain", message="splitbrain %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks for harness errors.")
def app(debug: bool) -> None:
    """splitbrain: Jepsen-style chaos testing for real clusters."""
    _state["debug"] = debug


# -- options generated from TestSpec ---------------------------------------------------

def _click_type(f: dataclasses.Field) -> Any:
    t = str(f.type)
    if t.startswith("int"):
        return click.INT
    if t.startswith("float"):
        return click.FLOAT
    return click.STRING


def spec_options(only: tuple[str, ...] | None = None) -> Callable[[Callable], Callable]:
    """Decorate a command with a click option per TestSpec field (or the ``only`` ones).

    Every option defaults to "not given" so TestSpec's own default applies; the help
    shows that default.
    """
    fields = [f for f in spec_fields() if only is None or f.name in only]

    def deco(fn: Callable) -> Callable:
        for f in reversed(fields):
            kind = f.metadata.get("kind")
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            shown = ",".join(default) if isinstance(default, list) else default
            help_ = f.metadata.get("help", "")
            if shown not in (None, {}, "", False):
                help_ += f" [default: {shown}]"
            decls = [flag_of(f)]
            if f.metadata.get("short"):
                decls.insert(0, f.metadata["short"])
            kw: dict[str, Any] = {"help": help_, "default": None}
            if kind == "kv":
                kw.update(multiple=True, metavar="KEY=VALUE", default=())
            elif str(f.type).startswith("bool"):
                kw.update(is_flag=True, default=False)
            else:
                kw.update(type=_click_type(f), metavar=f.metadata.get("metavar"))
                if kind == "nodes":
                    kw["type"] = click.STRING
            fn = click.option(*decls, f.name, **kw)(fn)
        return fn
    return deco


def spec_from_options(values: dict[str, Any]) -> TestSpec:
    """A TestSpec from the values of :func:`spec_options` (only what was given)."""
    from splitbrain.harness.spec import parse_nodes

    kw: dict[str, Any] = {}
    for f in spec_fields():
        if f.name not in values:
            continue
        v = values[f.name]
        kind = f.metadata.get("kind")
        if kind == "kv":
            if v:
                kw[f.name] = parse_kv(list(v), f.metadata.get("short") or flag_of(f))
        elif str(f.type).startswith("bool"):
            if v:
                kw[f.name] = True
        elif v is None:
            continue
        elif kind == "nodes":
            kw["nodes"], hosts = parse_nodes(str(v))
            if hosts:
                kw["hosts"] = hosts
        elif kind == "list":
            kw[f.name] = parse_list(v)
        else:
            kw[f.name] = v
    return TestSpec(**kw)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _recover_killed_runs() -> list[Any]:
    """Heal faults left by killed runs, found through the host registry whatever the
    cwd (every command that touches clusters starts with this); say what was done."""
    from rich.markup import escape

    from splitbrain.harness.recovery import heal_killed_runs

    try:
        outcomes = heal_killed_runs()
    except Exception as e:  # noqa: BLE001 - recovery problems are reported, not fatal
        _console(stderr=True).print(f"splitbrain: warning: could not heal killed runs: "
                                    f"{escape(str(e))}", soft_wrap=True)
        return []
    for o in outcomes:
        word = "healed leftover of a killed run" if o.ok else "warning: killed run"
        _console(stderr=True).print(f"splitbrain: {word}: {escape(o.line)}", soft_wrap=True)
    return outcomes


def _notice_killed_runs() -> None:
    """For commands that do not touch clusters (check, serve): one line on stderr when
    killed runs left faults or clusters on this host, and nothing otherwise."""
    try:
        from splitbrain.clusters.ownership import claims

        n = sum(1 for c in claims() if c.state == "killed")
    except Exception:  # noqa: BLE001 - a notice must never break the command
        return
    if n:
        print(f"splitbrain: note: {n} killed run(s) left a cluster on this host: "
              f"`splitbrain cluster status` heals and lists them", file=sys.stderr)


# -- test ------------------------------------------------------------------------------

@app.command(context_settings=CONTEXT)
@spec_options()
@click.option("--nodes-file", type=click.Path(dir_okay=False, path_type=Path),
              help="ssh: a file with one host per line (instead of --nodes)")
@click.option("--from", "from_", type=click.Path(path_type=Path),
              help="Re-run a stored test exactly: its test.json (or run directory)")
@click.option("--quiet", "-q", is_flag=True, help="Plain log lines instead of the live view")
def test(nodes_file: Path | None, from_: Path | None, quiet: bool, **values: Any) -> None:
    """Run one test: cluster up, workload + nemesis, heal, final phase, check, report."""
    _recover_killed_runs()
    if from_ is not None:
        spec = TestSpec.load(from_)      # plugin names in a file: not from the cwd
    else:
        from splitbrain.registry import plugins_from_cwd

        plugins_from_cwd([values.get("system"), values.get("workload")])
        spec = spec_from_options(values)
        if nodes_file is not None:
            from splitbrain.clusters.backends.ssh import read_nodes_file

            spec.hosts = read_nodes_file(str(nodes_file))
            spec.nodes = len(spec.hosts)
    spec = spec.resolved()
    from splitbrain.harness.live import run_with_display

    result = run_with_display(spec, quiet=quiet)
    sys.exit(result.exit_code)


# -- check -----------------------------------------------------------------------------

@app.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--model", help="Linearizability model: register, cas-register, kv, "
              "multi-register, counter, set, mutex, fifo-queue")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "jsonl", "edn", "jepsen-log"]),
              help="History format")
@click.option("--time-limit", type=click.FLOAT,
              help="Seconds for the whole check; past it the verdict is unknown")
@click.option("--max-size", "max_mb", type=click.FloatRange(min=0, min_open=True),
              default=512, show_default=True, metavar="MB",
              help="Refuse history files larger than this")
@click.option("--failed-cas-observes", is_flag=True,
              help="A failed cas observed that the register did not hold the expected value")
@click.option("--checker", default="linearizability", show_default=True,
              type=click.Choice(["linearizability", "elle-list-append", "elle-rw-register"]))
@click.option("--consistency-model",
              help="Elle: read-committed, snapshot-isolation, serializable, strict-serializable")
@click.option("--json", "json_out", is_flag=True, help="Print a machine-readable result")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Write an HTML report (several files: a list linking one page each); "
                   "a run directory checked without it gets check-report.html inside it")
def check(files: tuple[Path, ...], model: str | None, fmt: str, time_limit: float | None,
          max_mb: float, failed_cas_observes: bool, checker: str,
          consistency_model: str | None, json_out: bool, report: Path | None) -> None:
    """Check recorded histories (JSONL, Jepsen EDN, Jepsen log lines, run directories)."""
    _notice_killed_runs()
    if not files:
        raise click.UsageError("give at least one history file or directory")
    from splitbrain.checker.command import run_check
    from splitbrain.reports.checkreport import Checked, is_run_history, write_check_reports

    options = {"format": fmt, "model": model, "failed_cas_observes": failed_cas_observes,
               "consistency_model": consistency_model, "time_limit": time_limit}
    checked: list[Checked] = []

    def keep(path: Path, ops: list[Any], name: str, result: dict[str, Any]) -> None:
        if report is not None or is_run_history(path):
            checked.append(Checked(path, ops, name, result, options))

    code = run_check([str(f) for f in files], model=model, fmt=fmt, time_limit=time_limit,
                     failed_cas_observes=failed_cas_observes, json_out=json_out,
                     checker=checker, consistency_model=consistency_model, max_mb=max_mb,
                     on_checked=keep)
    if checked:
        for out in write_check_reports(report, checked):
            click.echo(f"report: {out}", err=json_out)
    sys.exit(code)


@app.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--model", "models", multiple=True,
              help="Also check linearizability against this model (repeatable)")
@click.option("--checker", "checkers", multiple=True,
              type=click.Choice(["elle-list-append", "elle-rw-register"]),
              help="Also run this checker (repeatable)")
@click.option("--consistency-model",
              help="Elle: read-committed, snapshot-isolation, serializable, strict-serializable")
@click.option("--time-limit", type=click.FLOAT,
              help="Seconds per checker (default: the run's own); past it the verdict is unknown")
def analyze(run_dir: Path, models: tuple[str, ...], checkers: tuple[str, ...],
            consistency_model: str | None, time_limit: float | None) -> None:
    """Check a stored run again with the checkers its test.json implies (and more),
    rewriting its results.json and report.html."""
    from splitbrain.harness.analyze import analyze as analyze_run
    from splitbrain.verdict import word

    a = analyze_run(run_dir, models=list(models), checkers=list(checkers),
                    consistency_model=consistency_model, time_limit=time_limit)
    out = _console()
    for name, r in a.results["checkers"].items():
        why = r.get("reason") or r.get("error") or ""
        out.print(f"{name}: {word(r.get('valid'))}" + (f" ({why})" if why else ""), soft_wrap=True)
    out.print(f"{word(a.valid).upper()}  results: {a.run_dir / 'results.json'}"
              + (f"  report: {a.report}" if a.report else ""), soft_wrap=True)
    sys.exit(a.exit_code)


# -- serve, campaign ---------------------------------------------------------------------

@app.command(context_settings=CONTEXT)
@click.argument("store", default="store", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535),
              help="Port")
def serve(store: Path, host: str, port: int) -> None:
    """Serve an index of every run in the store, each linking its report."""
    _notice_killed_runs()
    if not store.is_dir():
        raise HarnessError(f"{store}: no such store directory (run a test first)")
    from splitbrain.reports.serve import serve as serve_store

    serve_store(store, host=host, port=port)


class _CampaignGroup(click.Group):
    """``splitbrain campaign FILE ...`` is ``splitbrain campaign run FILE ...``: the
    group's other subcommands (``merge``) are named first."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands
                        and args[0] not in ctx.help_option_names):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@app.group(cls=_CampaignGroup, context_settings=CONTEXT)
def campaign() -> None:
    """Run a campaign file (`splitbrain campaign FILE`), or merge shards' results."""


@campaign.command("run", context_settings=CONTEXT)
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a JUnit XML file")
@click.option("--json", "json_out", is_flag=True, help="Print a machine-readable summary")
@click.option("--repetitions", type=click.IntRange(1), help="Override the file's repetitions")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Tests run at once on this host (each its own cluster)")
@click.option("--shard", metavar="I/N",
              help="Run only the I-th of N shares of the runs (spread a campaign over a CI "
                   "matrix; join the results with `splitbrain campaign merge`)")
def campaign_run(file: Path, junit: Path | None, json_out: bool, repetitions: int | None,
                 jobs: int, shard: str | None) -> None:
    """Run a matrix of tests, each with an expected verdict (exit 0 when all match)."""
    from splitbrain.harness.campaign import run_campaign

    _recover_killed_runs()
    sys.exit(run_campaign(file, junit=junit, json_out=json_out, repetitions=repetitions,
                          jobs=jobs, shard=shard))


@campaign.command("merge", context_settings=CONTEXT)
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("shards", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one JUnit XML file for all shards")
@click.option("--json", "json_out", is_flag=True, help="Print the merged summary")
def campaign_merge(out_dir: Path, shards: tuple[Path, ...], junit: Path | None,
                   json_out: bool) -> None:
    """Join shards' results (campaign.json files, their directories, or folders holding
    them) into OUT_DIR/campaign.html and campaign.json; the exit code is the campaign's."""
    from splitbrain.harness.campaign import merge_campaigns

    sys.exit(merge_campaigns(out_dir, list(shards), junit=junit, json_out=json_out))


# -- list ------------------------------------------------------------------------------

@app.command("list", context_settings=CONTEXT)
@click.argument("what", default="all",
                type=click.Choice(["all", "systems", "workloads", "faults", "backends"]))
@click.option("--markdown", is_flag=True,
              help="Print docs/reference.md (every table, as Markdown) instead")
def list_(what: str, markdown: bool) -> None:
    """List systems (-o options, capabilities, faults), workloads (-w options, needs),
    faults (-O options, systems) and backends."""
    from splitbrain.harness import catalog

    if markdown:
        click.echo(catalog.reference_markdown(), nl=False)
        return
    catalog.print_catalog(_console(), what)


# -- cluster -----------------------------------------------------------------------------

@app.group(context_settings=CONTEXT)
def cluster() -> None:
    """Start, inspect, heal and remove clusters."""


@cluster.command("up", context_settings=CONTEXT)
@spec_options(("system", "backend", "nodes", "store", "options", "ssh_user", "ssh_key",
               "ssh_port", "ssh_sudo", "ssh_accept_unknown_host_keys", "ssh_known_hosts"))
@click.option("--name", default="cluster", show_default=True, help="Cluster name")
def cluster_up(name: str, **values: Any) -> None:
    """Start a cluster and print its nodes, addresses and client endpoints."""
    from contextlib import ExitStack

    from splitbrain.clusters.systems import SYSTEMS
    from splitbrain.harness.claims import new_claim
    from splitbrain.harness.cluster import make_backend, node_scope, system_scope
    from splitbrain.harness.locks import lock_test_name
    from splitbrain.registry import plugins_from_cwd

    _recover_killed_runs()
    plugins_from_cwd([values.get("system")])
    spec = spec_from_options(values)
    spec.name = name
    spec = spec.resolved()
    sys_cls = SYSTEMS.load(spec.system)
    opts = sys_cls.parse_options(spec.options)
    be = make_backend(spec)
    up = [False]
    with lock_test_name(name), ExitStack() as stack:   # the same scopes as a test run;
        claim = new_claim(be, name, spec.store, kind="cluster", system=spec.system,
                          options=spec.options)        # kept once it is up
        nodes = stack.enter_context(node_scope(be, name, spec.nodes, keep=lambda: up[0],
                                               claim=claim))
        system = sys_cls(nodes, opts, name)
        stack.enter_context(system_scope(system, keep=lambda: up[0]))
        _print_cluster(system, nodes, be.name, name)
        up[0] = True


def _print_cluster(sys_obj: Any, node_list: list[Any], backend: str, name: str) -> None:
    from rich.table import Table

    leader = None
    try:
        ld = sys_obj.leader() if sys_obj is not None else None
        leader = ld.name if ld is not None else None
    except Exception:  # noqa: BLE001 - leader is informative only
        pass
    what = sys_obj.name if sys_obj is not None else "plugin"
    t = Table(title=f"{what} cluster {name!r} on {backend}")
    for col in ("node", "address", "endpoint", "running", "role"):
        t.add_column(col)
    for n in node_list:
        running = sys_obj.is_running(n) if sys_obj is not None else None
        t.add_row(n.name, n.address, sys_obj.endpoint(n) if sys_obj is not None else "",
                  {True: "yes", False: "no", None: "?"}[running],
                  "leader" if n.name == leader else "")
    _console().print(t)


def _attach(store: str, name: str) -> tuple[Any, Any, list[Any], Any]:
    """Backend, built-in system (or None), nodes and claim of cluster ``name`` of ``store``."""
    from splitbrain.harness.claims import find_named
    from splitbrain.harness.recovery import backend_for, system_for

    claim = find_named(name, store)
    be = backend_for(claim)
    node_list = be.attach(name)
    return be, system_for(claim, node_list), node_list, claim


def _store_option(fn: Callable) -> Callable:
    return click.option("--store", default="store", show_default=True,
                        help="Store directory (clusters are recorded with their store)")(fn)


@cluster.command("status", context_settings=CONTEXT)
@click.option("--name", help="Show this cluster's nodes (default: list every cluster and "
              "every killed run's leftovers splitbrain knows of, with their store)")
@_store_option
def cluster_status(name: str | None, store: str) -> None:
    """List clusters and leftovers of killed runs (heals their faults first)."""
    _recover_killed_runs()
    if name is not None:
        be, sys_obj, node_list, _ = _attach(store, name)
        _print_cluster(sys_obj, node_list, be.name, name)
        return
    from rich.markup import escape
    from rich.table import Table

    from splitbrain.harness.claims import overview

    rows = overview()
    if not rows:
        _console().print("no clusters and no leftovers of killed runs")
        return
    t = Table(title="clusters and leftovers splitbrain made on this host")
    for col in ("name", "backend", "state", "store", "made"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(*(escape(r[k]) for k in ("name", "backend", "state", "store", "made")))
    _console().print(t)
    killed = sum(1 for r in rows if r["claim"].state == "killed")
    if killed:
        _console().print(f"{killed} killed run(s) left a cluster: `splitbrain cluster down "
                         f"--all` removes them")


@cluster.command("down", context_settings=CONTEXT)
@click.option("--name", default="cluster", show_default=True, help="Cluster name")
@_store_option
@click.option("--all", "all_", is_flag=True,
              help="Remove this store's clusters and the leftovers of every killed run; "
                   "live runs and other stores' clusters are listed and left alone")
@click.option("--everywhere", is_flag=True,
              help="With --all: also other stores' clusters and live runs")
def cluster_down(name: str, store: str, all_: bool, everywhere: bool) -> None:
    """Remove a cluster: exactly the containers, networks, namespaces, links, rules,
    processes and directories splitbrain recorded making for it."""
    _recover_killed_runs()
    if everywhere and not all_:
        raise click.UsageError("--everywhere goes with --all")
    if all_:
        from splitbrain.harness.claims import down_all

        rep = down_all(store, everywhere=everywhere)
        for line in rep.removed:
            _console().print(line, soft_wrap=True, markup=False)
        for line in rep.left:
            _console().print(f"left alone: {line}", soft_wrap=True, markup=False)
        for line in rep.failed:
            _console(stderr=True).print(f"splitbrain: error: {line}", soft_wrap=True, markup=False)
        _console().print(f"{len(rep.removed)} removed, {len(rep.left)} left alone")
        if rep.failed:
            sys.exit(3)
        return
    from splitbrain.harness.claims import find_named, remove_claimed

    claim = find_named(name, store)
    if claim.state == "live" and not claim.mine():
        raise HarnessError(f"{claim.describe()} belongs to a live run (pid "
                           f"{(claim.owner or {}).get('pid')}): stop that run first")
    for line in remove_claimed(claim):
        _console().print(line, soft_wrap=True, markup=False)
    _console().print(f"cluster {name!r} removed")


@cluster.command("heal", context_settings=CONTEXT)
@click.option("--name", help="Also clear every fault of ours from this cluster's nodes")
@_store_option
def cluster_heal(name: str | None, store: str) -> None:
    """Heal faults by hand: those killed runs left (any store), journals under --store no
    claim covers, and with --name every fault of ours on that cluster. Exit 3 when
    anything stays unhealed."""
    from splitbrain.harness.recovery import heal_killed_runs, recover_store_journals
    from splitbrain.nemesis import heal_nodes

    outcomes = heal_killed_runs() + recover_store_journals(Path(store))
    for o in outcomes:
        _console().print(o.line, soft_wrap=True, markup=False)
    if name is not None:
        _, sys_obj, node_list, _ = _attach(store, name)
        for line in heal_nodes(node_list, sys_obj):
            _console().print(line, soft_wrap=True, markup=False)
        _console().print(f"cluster {name!r} healed")
    elif not outcomes:
        _console().print("nothing to heal")
    if any(not o.ok for o in outcomes):
        _console(stderr=True).print("splitbrain: error: some faults are NOT healed (see above)")
        sys.exit(3)


# -- images ------------------------------------------------------------------------------

@app.group(context_settings=CONTEXT)
def images() -> None:
    """Build the Docker node image."""


@images.command("build", context_settings=CONTEXT)
@click.option("--force", is_flag=True, help="Rebuild even if the image exists")
def images_build(force: bool) -> None:
    """Build the node image locally (debootstrap from the host's apt mirror, no registry)."""
    from splitbrain.clusters.backends.docker.image import build_image

    tag = build_image(force=force, progress=lambda m: _console().print(m))
    _console().print(f"image ready: {tag}")


# -- entry point -------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turn harness errors into one line and exit code 3."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    # Library warnings (kazoo reconnects, ...) belong in the run's splitbrain.log,
    # not on the user's terminal: a root handler stops logging's last-resort printer.
    import logging

    logging.getLogger().addHandler(logging.NullHandler())
    try:
        rc = app.main(args=args, prog_name="splitbrain", standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 3)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.UsageError as e:
        if e.ctx is not None:
            print(e.ctx.get_usage(), file=sys.stderr)
        print(f"splitbrain: error: {e.format_message()}", file=sys.stderr)
        return 3
    except click.ClickException as e:
        print(f"splitbrain: error: {e.format_message()}", file=sys.stderr)
        return 3
    except (click.exceptions.Abort, KeyboardInterrupt):
        print("splitbrain: interrupted", file=sys.stderr)
        return 3
    except HarnessError as e:
        if debug:
            raise
        print(f"splitbrain: error: {e}", file=sys.stderr)
        return 3
    except Exception as e:  # noqa: BLE001 - no traceback unless --debug
        if debug:
            raise
        print(f"splitbrain: error: {type(e).__name__}: {e} (run with --debug for the traceback)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
