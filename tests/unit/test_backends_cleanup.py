"""cleanup_all: every backend's leftovers removed, unavailable backends skipped with a reason."""

from __future__ import annotations

from splitbrain.clusters.cleanup import cleanup_all
from splitbrain.clusters.node import Backend
from splitbrain.errors import HarnessError


class _Fake(Backend):
    def __init__(self, name: str, leftovers: list[str] | None, error: str | None = None):
        self.name, self.leftovers, self.error = name, leftovers, error
        self.calls = 0

    def create(self, test_name, count):
        raise NotImplementedError

    def attach(self, test_name):
        raise NotImplementedError

    def destroy(self, test_name):
        raise NotImplementedError

    def destroy_all(self):
        self.calls += 1
        if self.error:
            raise HarnessError(self.error)
        out, self.leftovers = list(self.leftovers or []), []
        return out


def test_removes_leftovers_of_every_backend_and_reports_them():
    a = _Fake("docker", ["container splitbrain-t-n1", "network splitbrain-t"])
    b = _Fake("netns", ["netns sb-t-n1"])
    seen: list[str] = []
    report = cleanup_all([a, b], progress=seen.append)
    assert report.removed == {"docker": ["container splitbrain-t-n1", "network splitbrain-t"],
                              "netns": ["netns sb-t-n1"]}
    assert report.total == 3 and report.skipped == {}
    assert seen == ["docker: removed container splitbrain-t-n1", "docker: removed network "
                    "splitbrain-t", "netns: removed netns sb-t-n1"]
    assert cleanup_all([a, b]).total == 0            # a second pass finds nothing


def test_an_unavailable_backend_is_skipped_not_fatal():
    a = _Fake("docker", None, error="Docker is not reachable at unix:///x: start the daemon")
    b = _Fake("netns", ["netns sb-t-n1"])
    report = cleanup_all([a, b])
    assert report.skipped == {"docker": "Docker is not reachable at unix:///x: start the daemon"}
    assert report.removed == {"netns": ["netns sb-t-n1"]}
    assert "docker: skipped (Docker is not reachable" in report.lines()[-1]


def test_default_backends_skip_netns_without_root(monkeypatch):
    from splitbrain.clusters import cleanup
    monkeypatch.setattr(cleanup.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(cleanup, "_docker_available", lambda: "no Docker engine")
    report = cleanup_all()
    assert report.skipped == {"docker": "no Docker engine", "netns": "not root"}
    assert report.removed == {}


def test_destroy_everything_lists_what_it_removed(monkeypatch):
    from splitbrain.clusters import cleanup
    fake = _Fake("netns", ["netns sb-x-n1", "link sbbrabcdef"])
    monkeypatch.setattr(cleanup, "cleanup_all",
                        lambda progress=None: cleanup.CleanupReport(
                            removed={"netns": fake.destroy_all()}, skipped={"docker": "x"}))
    assert cleanup.destroy_everything() == ["netns: netns sb-x-n1", "netns: link sbbrabcdef"]
