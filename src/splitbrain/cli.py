"""The command line. Thin: parses options, calls the harness, maps outcomes to exit codes.

Exit codes (as Jepsen's): 0 valid, 1 invalid, 2 unknown, 3 the harness failed
(bad input, a cluster that would not start ...) with one line on stderr and no
traceback unless ``--debug``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from splitbrain.errors import HarnessError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="splitbrain: Jepsen-style chaos testing for real clusters.")
cluster_app = typer.Typer(no_args_is_help=True, help="Start, inspect, heal and remove clusters.")
images_app = typer.Typer(no_args_is_help=True, help="Build the Docker node image.")
app.add_typer(cluster_app, name="cluster")
app.add_typer(images_app, name="images")

_state: dict[str, Any] = {"debug": False}

Opt = typer.Option


@app.callback()
def _root(debug: Annotated[bool, Opt("--debug", help="Show tracebacks for harness errors.")] = False,
          ) -> None:
    _state["debug"] = debug


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _recover_killed_runs(store: str) -> None:
    """Heal faults left by runs that were killed (their journal was never closed)."""
    from splitbrain.harness.recovery import recover_journals

    try:
        healed = recover_journals(Path(store))
    except Exception as e:  # noqa: BLE001 - recovery problems are reported, not fatal
        _console(stderr=True).print(f"splitbrain: warning: could not heal a killed run: {e}")
        return
    for h in healed:
        _console(stderr=True).print(f"splitbrain: healed leftover fault of a killed run: {h}")


@app.command()
def test(
    system: Annotated[str, Opt(help="etcd, zookeeper, raft, consul, or package.module:Class")] = "raft",
    backend: Annotated[str, Opt(help="docker, netns, ssh, local, or auto (docker, else netns as root, else local)")] = "auto",
    nodes: Annotated[str, Opt(help="Node count, or for --backend ssh a comma-separated host list")] = "3",
    nodes_file: Annotated[Path | None, Opt(help="ssh: a file with one host per line")] = None,
    workload: Annotated[str, Opt(help="register, counter, set, append, lock, bank")] = "register",
    nemesis: Annotated[str, Opt(help="Comma-separated faults, e.g. partition,kill; 'none' for none")] = "partition",
    nemesis_interval: Annotated[float, Opt(help="Seconds between fault and heal")] = 10.0,
    nemesis_targets: Annotated[str, Opt(help="one, minority, majority, all, leader")] = "one",
    time_limit: Annotated[float, Opt(help="Seconds of the main phase")] = 60.0,
    concurrency: Annotated[int, Opt(help="Number of client workers")] = 10,
    rate: Annotated[float, Opt(help="Ops/s over all workers (0 = unlimited)")] = 100.0,
    seed: Annotated[int | None, Opt(help="Random seed (default: random, recorded in test.json)")] = None,
    name: Annotated[str | None, Opt(help="Test name (default: system-workload-faults)")] = None,
    store: Annotated[str, Opt(help="Store directory")] = "store",
    option: Annotated[list[str] | None, Opt("-o", "--option", help="System option key=value (repeatable)")] = None,
    workload_option: Annotated[list[str] | None, Opt("-w", "--workload-option", help="Workload option key=value (repeatable)")] = None,
    nemesis_option: Annotated[list[str] | None, Opt("-O", "--nemesis-option", help="Nemesis option key=value, e.g. loss=0.3, grudge_file=g.toml (repeatable)")] = None,
    ops_per_key: Annotated[int, Opt(help="Independent keys: ops before a key is retired")] = 200,
    recovery_time: Annotated[float, Opt(help="Seconds to wait after heal before the final phase")] = 5.0,
    leave_db_running: Annotated[bool, Opt(help="Do not tear the cluster down at the end")] = False,
    ssh_user: Annotated[str, Opt(help="ssh: user")] = "root",
    ssh_key: Annotated[str | None, Opt(help="ssh: private key file")] = None,
    ssh_port: Annotated[int, Opt(help="ssh: port")] = 22,
    ssh_sudo: Annotated[bool, Opt(help="ssh: run commands with sudo")] = False,
    ssh_accept_unknown_host_keys: Annotated[bool, Opt(help="ssh: trust hosts missing from known_hosts")] = False,
    from_: Annotated[Path | None, Opt("--from", help="Re-run a stored test exactly: path to its test.json")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="Plain log lines instead of the live display")] = False,
) -> None:
    """Run one test: cluster up, workload + nemesis, heal, final phase, check, report."""
    from splitbrain.harness.spec import TestSpec, parse_kv, parse_list

    if from_ is not None:
        spec = TestSpec.load(from_)
    else:
        hosts: list[str] = []
        count = 3
        if nodes_file is not None:
            from splitbrain.clusters.backends.ssh import read_nodes_file

            hosts = read_nodes_file(str(nodes_file))
        elif nodes.isdigit():
            count = int(nodes)
        else:
            hosts = parse_list(nodes)
        if hosts:
            count = len(hosts)
            if backend == "auto":
                backend = "ssh"
        spec = TestSpec(system=system, backend=backend, nodes=count, hosts=hosts,
                        workload=workload, nemesis=parse_list(nemesis),
                        nemesis_interval=nemesis_interval, nemesis_targets=nemesis_targets,
                        time_limit=time_limit, concurrency=concurrency, rate=rate, seed=seed,
                        name=name, store=store, options=parse_kv(option or [], "-o"),
                        workload_options=parse_kv(workload_option or [], "-w"),
                        nemesis_options=parse_kv(nemesis_option or [], "-O"),
                        ops_per_key=ops_per_key, recovery_time=recovery_time,
                        leave_db_running=leave_db_running,
                        ssh={"user": ssh_user, "key_file": ssh_key, "port": ssh_port,
                             "sudo": ssh_sudo,
                             "accept_unknown_host_keys": ssh_accept_unknown_host_keys})
    spec = spec.resolved()
    _recover_killed_runs(spec.store)
    from splitbrain.harness.live import run_with_display

    result = run_with_display(spec, quiet=quiet)
    raise typer.Exit(result.exit_code)


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="History files or directories")],
    model: Annotated[str | None, Opt(help="Linearizability model: register, cas-register, kv, multi-register, counter, set, mutex, fifo-queue")] = None,
    format: Annotated[str, Opt(help="auto, jsonl, edn, jepsen-log")] = "auto",
    time_limit: Annotated[float | None, Opt(help="Seconds for the whole check; past it the verdict is unknown")] = None,
    failed_cas_observes: Annotated[bool, Opt(help="A failed cas observed that the register did not hold the expected value")] = False,
    checker: Annotated[str, Opt(help="linearizability, elle-list-append, elle-rw-register")] = "linearizability",
    consistency_model: Annotated[str | None, Opt(help="Elle: read-committed, snapshot-isolation, serializable, strict-serializable")] = None,
    json_out: Annotated[bool, Opt("--json", help="Print a machine-readable result")] = False,
) -> None:
    """Check recorded histories (JSONL, Jepsen EDN, Jepsen log lines)."""
    if format not in ("auto", "jsonl", "edn", "jepsen-log"):
        raise HarnessError(f"--format {format}: expected auto, jsonl, edn or jepsen-log")
    from splitbrain.checker.command import run_check

    code = run_check([str(f) for f in files], model=model, fmt=format, time_limit=time_limit,
                     failed_cas_observes=failed_cas_observes, json_out=json_out,
                     checker=checker, consistency_model=consistency_model)
    raise typer.Exit(code)


@app.command()
def serve(
    store: Annotated[Path, typer.Argument(help="Store directory")] = Path("store"),
    host: Annotated[str, Opt(help="Address to bind (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, Opt(help="Port")] = 8080,
) -> None:
    """Serve an index of every run in the store, each linking its report."""
    if not store.is_dir():
        raise HarnessError(f"{store}: no such store directory (run a test first)")
    from splitbrain.reports.serve import serve as serve_store

    serve_store(store, host=host, port=port)


@app.command()
def campaign(
    file: Annotated[Path, typer.Argument(help="Campaign TOML file")],
    junit: Annotated[Path | None, Opt(help="Write a JUnit XML file")] = None,
    json_out: Annotated[bool, Opt("--json", help="Print a machine-readable summary")] = False,
) -> None:
    """Run a matrix of tests (systems x workloads x faults x repetitions)."""
    from splitbrain.harness.campaign import run_campaign

    raise typer.Exit(run_campaign(file, junit=junit, json_out=json_out))


def _cluster_record(store: str, name: str) -> Path:
    return Path(store) / ".clusters" / f"{name}.json"


@cluster_app.command("up")
def cluster_up(
    system: Annotated[str, Opt(help="etcd, zookeeper, raft, consul, or package.module:Class")] = "raft",
    backend: Annotated[str, Opt(help="docker, netns, local, or auto")] = "auto",
    nodes: Annotated[int, Opt(help="Node count")] = 3,
    name: Annotated[str, Opt(help="Cluster name")] = "cluster",
    store: Annotated[str, Opt(help="Store directory (records the cluster)")] = "store",
    option: Annotated[list[str] | None, Opt("-o", "--option", help="System option key=value")] = None,
) -> None:
    """Start a cluster and print its nodes, addresses and client endpoints."""
    from splitbrain.clusters.systems import get_system
    from splitbrain.harness.runner import make_backend
    from splitbrain.harness.spec import TestSpec, parse_kv

    spec = TestSpec(system=system, backend=backend, nodes=nodes, name=name,
                    options=parse_kv(option or []))
    sys_cls = get_system(system)
    opts = sys_cls.parse_options(spec.options)
    be = make_backend(spec)
    node_list = be.create(name, nodes)
    sys_obj = sys_cls(node_list, opts, name)
    rec = _cluster_record(store, name)
    rec.parent.mkdir(parents=True, exist_ok=True)
    rec.write_text(json.dumps({"system": system, "backend": be.name, "nodes": nodes,
                               "name": name, "options": spec.options}))
    try:
        sys_obj.setup()
    except BaseException:
        sys_obj.teardown()
        be.destroy(name)
        rec.unlink(missing_ok=True)
        raise
    _print_cluster(sys_obj, node_list, be.name, name)


def _print_cluster(sys_obj: Any, node_list: list[Any], backend: str, name: str) -> None:
    from rich.table import Table

    leader = None
    try:
        ld = sys_obj.leader()
        leader = ld.name if ld is not None else None
    except Exception:  # noqa: BLE001 - leader is informative only
        pass
    t = Table(title=f"{sys_obj.name} cluster {name!r} on {backend}")
    for col in ("node", "address", "endpoint", "running", "role"):
        t.add_column(col)
    for n in node_list:
        running = sys_obj.is_running(n)
        t.add_row(n.name, n.address, sys_obj.endpoint(n), "yes" if running else "no",
                  "leader" if n.name == leader else "")
    _console().print(t)


def _attach(store: str, name: str) -> tuple[Any, Any, list[Any], dict[str, Any]]:
    from splitbrain.clusters.systems import get_system
    from splitbrain.harness.runner import make_backend
    from splitbrain.harness.spec import TestSpec

    rec = _cluster_record(store, name)
    if not rec.exists():
        raise HarnessError(f"no cluster named {name!r} in {store} (start one with "
                           f"`splitbrain cluster up --name {name}`)")
    info = json.loads(rec.read_text())
    be = make_backend(TestSpec(backend=info["backend"]))
    node_list = be.attach(name)
    sys_cls = get_system(info["system"])
    return be, sys_cls(node_list, sys_cls.parse_options(info.get("options", {})), name), \
        node_list, info


@cluster_app.command("status")
def cluster_status(
    name: Annotated[str, Opt(help="Cluster name")] = "cluster",
    store: Annotated[str, Opt(help="Store directory")] = "store",
) -> None:
    """Show a cluster's nodes, whether each daemon runs, and the leader."""
    be, sys_obj, node_list, _ = _attach(store, name)
    _print_cluster(sys_obj, node_list, be.name, name)


@cluster_app.command("down")
def cluster_down(
    name: Annotated[str, Opt(help="Cluster name")] = "cluster",
    store: Annotated[str, Opt(help="Store directory")] = "store",
    all_: Annotated[bool, Opt("--all", help="Remove everything splitbrain made on every backend, also of killed runs")] = False,
) -> None:
    """Remove a cluster: its containers, networks, namespaces and rules."""
    if all_:
        from splitbrain.clusters.cleanup import destroy_everything

        removed = destroy_everything()
        for r in removed:
            _console().print(f"removed {r}")
        _console().print(f"{len(removed)} leftover(s) removed")
        for rec in (Path(store) / ".clusters").glob("*.json"):
            rec.unlink()
        return
    be, sys_obj, _, _ = _attach(store, name)
    sys_obj.teardown()
    be.destroy(name)
    _cluster_record(store, name).unlink(missing_ok=True)
    _console().print(f"cluster {name!r} removed")


@cluster_app.command("heal")
def cluster_heal(
    name: Annotated[str | None, Opt(help="Cluster name (default: heal leftovers of every killed run)")] = None,
    store: Annotated[str, Opt(help="Store directory")] = "store",
) -> None:
    """Heal faults by hand: remove splitbrain's iptables rules and qdiscs, resume paused daemons."""
    from splitbrain.harness.recovery import recover_journals
    from splitbrain.nemesis import heal_nodes

    healed = recover_journals(Path(store))
    for h in healed:
        _console().print(f"healed {h}")
    if name is not None:
        _, _, node_list, _ = _attach(store, name)
        heal_nodes(node_list)
        _console().print(f"cluster {name!r} healed")
    elif not healed:
        _console().print("nothing to heal")


@images_app.command("build")
def images_build(
    force: Annotated[bool, Opt(help="Rebuild even if the image exists")] = False,
) -> None:
    """Build the node image locally (debootstrap from the host's apt mirror, no registry)."""
    from splitbrain.clusters.backends.docker.image import build_image

    tag = build_image(force=force, progress=lambda m: _console().print(m))
    _console().print(f"image ready: {tag}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turn harness errors into one line and exit code 3."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    # Library warnings (kazoo reconnects, ...) belong in the run's splitbrain.log,
    # not on the user's terminal: a root handler stops logging's last-resort printer.
    import logging

    logging.getLogger().addHandler(logging.NullHandler())
    try:
        rc = app(args=args, prog_name="splitbrain", standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except typer.Exit as e:
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        if debug:
            raise
        print(f"splitbrain: error: {e.format_message()}", file=sys.stderr)
        return 3
    except click.exceptions.Abort:
        print("splitbrain: interrupted", file=sys.stderr)
        return 3
    except HarnessError as e:
        if debug:
            raise
        print(f"splitbrain: error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("splitbrain: interrupted", file=sys.stderr)
        return 3
    except Exception as e:  # noqa: BLE001 - no traceback unless --debug
        if debug:
            raise
        print(f"splitbrain: error: {type(e).__name__}: {e} (run with --debug for the traceback)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
