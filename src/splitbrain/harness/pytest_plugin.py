"""pytest plugin: run splitbrain tests, or get a running cluster, from a test suite.

    def test_etcd(splitbrain):
        result = splitbrain.run(system="etcd", workload="register", nemesis="partition")
        assert result.valid        # on failure pytest shows the checker's reason and report

    @pytest.mark.splitbrain_cluster(system="etcd", nodes=3, backend="docker")
    def test_my_client(splitbrain_cluster):
        with splitbrain_cluster.client() as c:        # a Client pinned to the first node
            c.write("k", 1)
        print(splitbrain_cluster.endpoints)            # {"n1": "http://10.77.0.2:2379", ...}

``run()`` takes TestSpec field names (``nemesis`` may be a comma string) and returns
the runner's RunResult, whose repr is the verdict, the checkers' one-line reason and
the report's path (``result.assert_valid()`` raises with the same text). Runs are
stored in ``<rootdir>/store`` — a stable folder, unlike pytest's temporary directories
that vanish after three sessions — or where ``--splitbrain-store DIR`` or the ini
option ``splitbrain_store`` say (relative to the rootdir). Each run's report path is
attached to the test (``user_properties``), so it shows in pytest's own JUnit XML.

``splitbrain_cluster`` is in the style of testcontainers: a cluster brought up
through the same scopes as a test run (:mod:`splitbrain.harness.cluster`) before the
test and torn down after it, whatever the test did. Settings come from the
``splitbrain_cluster`` marker (system, nodes, backend, options and the ssh settings:
TestSpec names); :class:`SplitbrainCluster` is also usable on its own as a context
manager. Registered through the ``pytest11`` entry point.
"""

from __future__ import annotations

import secrets
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from splitbrain.history.store import REPORT

#: settings a cluster takes (TestSpec field names)
CLUSTER_SETTINGS = ("system", "nodes", "backend", "options", "hosts", "ssh_user", "ssh_key",
                    "ssh_port", "ssh_sudo", "ssh_accept_unknown_host_keys")


class SplitbrainRunner:
    """What the ``splitbrain`` fixture returns."""

    def __init__(self, store: Path, node: Any = None) -> None:
        self.store = Path(store)
        self.results: list[Any] = []
        self._node = node

    def spec(self, **settings: Any) -> Any:
        """The TestSpec these settings describe (store defaults to this fixture's)."""
        from splitbrain.harness.spec import TestSpec

        settings.setdefault("store", str(self.store))
        return TestSpec.from_dict(settings, "splitbrain.run()")

    def run(self, **settings: Any) -> Any:
        """Run one test end to end; return its RunResult (``.valid``, ``.run_dir`` ...)."""
        from splitbrain.harness.runner import run_test

        res = run_test(self.spec(**settings))
        self.results.append(res)
        if self._node is not None and getattr(res, "run_dir", None):
            self._node.user_properties.append(("splitbrain_report",
                                               str(Path(res.run_dir) / REPORT)))
        return res


class SplitbrainCluster:
    """A running cluster for the length of a ``with`` block (or a test).

    ``nodes`` (each with ``.name``, ``.address``, ``.exec()``), ``system`` (the
    System: ``kill``, ``pause``, ``leader`` ...), ``endpoints`` (node name -> the
    client endpoint), ``client(node)`` (a Client, closed at teardown; also a context
    manager). Settings are TestSpec names; bad ones are refused with one line before
    any node exists. ``backend`` may also be a Backend object (tests use fakes).
    """

    def __init__(self, name: str | None = None, **settings: Any) -> None:
        from splitbrain.harness.spec import TestSpec

        backend_obj = settings.pop("backend", None)
        if backend_obj is not None and not isinstance(backend_obj, str):
            self._backend_obj: Any = backend_obj
        else:
            self._backend_obj = None
            if backend_obj is not None:
                settings["backend"] = backend_obj
        unknown = sorted(set(settings) - set(CLUSTER_SETTINGS))
        if unknown:
            from splitbrain.errors import HarnessError

            raise HarnessError(f"splitbrain_cluster: unknown setting(s) {', '.join(unknown)} "
                               f"(known: {', '.join(CLUSTER_SETTINGS)})")
        self.name = name or f"pytest-{secrets.token_hex(3)}"
        self.spec = TestSpec.from_dict(dict(settings, name=self.name),
                                       "splitbrain_cluster").resolved()
        self.nodes: list[Any] = []
        self.system: Any = None
        self.backend: Any = None
        self._stack: ExitStack | None = None
        self._clients: list[Any] = []

    def start(self) -> SplitbrainCluster:
        """Create the nodes and bring the system up; undone by :meth:`stop`."""
        from splitbrain.clusters.systems import SYSTEMS
        from splitbrain.harness.claims import new_claim
        from splitbrain.harness.cluster import make_backend, node_scope, system_scope

        sys_cls = SYSTEMS.load(self.spec.system)
        opts = sys_cls.parse_options(self.spec.options)
        self.backend = self._backend_obj or make_backend(self.spec)
        claim = new_claim(self.backend, self.name, self.spec.store, kind="cluster",
                          system=self.spec.system, options=self.spec.options)
        with ExitStack() as stack:   # recorded in the registry: a killed pytest is cleaned up
            self.nodes = stack.enter_context(node_scope(self.backend, self.name,
                                                        self.spec.nodes, claim=claim))
            self.system = sys_cls(self.nodes, opts, self.name)
            stack.enter_context(system_scope(self.system))
            stack.callback(self._close_clients)
            self._stack = stack.pop_all()   # started: keep it until stop()
        return self

    def stop(self) -> None:
        """Close the clients, stop the daemons, destroy the nodes (idempotent)."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    def __enter__(self) -> SplitbrainCluster:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def endpoints(self) -> dict[str, str]:
        """Each node's client endpoint, by node name."""
        return {n.name: self.system.endpoint(n) for n in self.nodes}

    def node(self, name: str) -> Any:
        """The node called ``name`` (n1, n2 ...)."""
        return self.system.node(name)

    def client(self, node: Any = None) -> Any:
        """A Client pinned to ``node`` (a Node or its name; default the first node).

        Closed when the cluster stops; ``with cluster.client() as c:`` closes it sooner.
        """
        if node is None:
            node = self.nodes[0]
        elif isinstance(node, str):
            node = self.node(node)
        c = self.system.client(node)
        self._clients.append(c)
        return c

    def leader(self) -> Any:
        """The leader node, if the system knows one."""
        return self.system.leader()

    def _close_clients(self) -> None:
        for c in self._clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - teardown is best effort
                pass
        self._clients.clear()

    def __repr__(self) -> str:
        where = ", ".join(f"{n.name}={n.address}" for n in self.nodes) or "not started"
        return f"SplitbrainCluster({self.spec.system} on {self.spec.backend}: {where})"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("splitbrain")
    group.addoption("--splitbrain-store", default=None,
                    help="store directory for runs made through the splitbrain fixture "
                         "(default: the ini option splitbrain_store, else <rootdir>/store)")
    parser.addini("splitbrain_store", "store directory for the splitbrain fixture's runs, "
                  "relative to the rootdir (default: store)", default="store")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "splitbrain_cluster(**settings): the cluster the "
                            "splitbrain_cluster fixture starts (system, nodes, backend, options)")


def store_dir(config: pytest.Config) -> Path:
    """Where the fixture's runs go: ``--splitbrain-store``, else the ini option, both
    relative to the rootdir."""
    given = config.getoption("--splitbrain-store", default=None) or config.getini(
        "splitbrain_store") or "store"
    p = Path(given).expanduser()
    return p if p.is_absolute() else Path(config.rootpath) / p


@pytest.fixture
def splitbrain(request: pytest.FixtureRequest) -> SplitbrainRunner:
    """Run splitbrain tests from a pytest test; see :class:`SplitbrainRunner`."""
    return SplitbrainRunner(store_dir(request.config), request.node)


@pytest.fixture
def splitbrain_cluster(request: pytest.FixtureRequest) -> Any:
    """A running cluster (settings from the ``splitbrain_cluster`` marker), torn down after."""
    from splitbrain.history.store import safe_name

    marker = request.node.get_closest_marker("splitbrain_cluster")
    settings = dict(marker.kwargs) if marker else {}
    name = safe_name(f"pt-{request.node.name}")[:32] + "-" + secrets.token_hex(2)
    with SplitbrainCluster(name, **settings) as cluster:
        yield cluster
