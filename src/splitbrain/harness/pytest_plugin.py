"""pytest plugin: a ``splitbrain`` fixture that runs tests from inside a test suite.

    def test_etcd(splitbrain):
        assert splitbrain.run(system="etcd", workload="register", nemesis="partition").valid

``run()`` takes TestSpec field names (``nemesis`` may be a comma string) and
returns the runner's RunResult. Runs are stored under pytest's temporary
directory unless ``store=`` or ``--splitbrain-store`` says otherwise; each
run's report path is attached to the test (``user_properties``), so it shows in
pytest's own JUnit XML. Registered through the ``pytest11`` entry point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from splitbrain.history.store import REPORT


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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("splitbrain")
    group.addoption("--splitbrain-store", default=None,
                    help="store directory for runs made through the splitbrain fixture "
                         "(default: a pytest temporary directory)")


@pytest.fixture
def splitbrain(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> SplitbrainRunner:
    """Run splitbrain tests from a pytest test; see :class:`SplitbrainRunner`."""
    opt = request.config.getoption("--splitbrain-store", default=None)
    store = Path(opt) if opt else tmp_path_factory.mktemp("splitbrain-store")
    return SplitbrainRunner(store, request.node)
