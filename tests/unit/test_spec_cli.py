"""TestSpec (defaults, resolution, validation, test.json round trip) and the CLI options
generated from it."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from splitbrain.cli import app, spec_from_options
from splitbrain.errors import HarnessError
from splitbrain.harness.spec import (
    TestSpec,
    flag_of,
    parse_kv,
    parse_list,
    parse_nodes,
    spec_fields,
)


def test_every_spec_field_is_a_test_option_with_its_default_in_the_help() -> None:
    out = CliRunner().invoke(app, ["test", "--help"], terminal_width=200).output
    for f in spec_fields():
        assert flag_of(f) in out, f.name
    assert "[default: 60.0]" in out and "[default: raft]" in out and "-o, --option" in out


def test_options_given_on_the_command_line_reach_the_spec() -> None:
    spec = spec_from_options({"system": "etcd", "nodes": "5", "nemesis": "kill,pause",
                              "options": ("serializable=true",), "workload_options": (),
                              "leave_db_running": True, "rate": 0.0, "seed": None})
    assert (spec.system, spec.nodes, spec.nemesis) == ("etcd", 5, ["kill", "pause"])
    assert spec.options == {"serializable": "true"} and spec.leave_db_running is True
    assert spec.rate == 0.0 and spec.seed is None
    # what was not given keeps TestSpec's default, written once
    assert spec.time_limit == TestSpec().time_limit and spec.workload == "register"


def test_resolved_fills_seed_and_name_and_keeps_the_rest() -> None:
    s = TestSpec(system="pkg.mod:MyKV", nemesis=["partition", "kill"],
                 options={"bug": "x/y"}).resolved()
    assert isinstance(s.seed, int) and 1 <= s.seed < 2**31
    assert s.name == "mykv-register-partition+kill-bug-x-y"
    assert TestSpec(seed=3, name="mine").resolved().name == "mine"


def test_test_json_round_trip_and_legacy_ssh(tmp_path: Path) -> None:
    s = TestSpec(system="etcd", nodes=5, seed=9, nemesis_options={"loss": "0.3"}).resolved()
    p = tmp_path / "test.json"
    p.write_text(json.dumps(s.to_dict() | {"splitbrain_version": "0.1.0"}))
    assert TestSpec.load(p) == s
    old = s.to_dict()
    for k in ("ssh_user", "ssh_key", "ssh_port", "ssh_sudo", "ssh_accept_unknown_host_keys"):
        old.pop(k)
    old["ssh"] = {"user": "alice", "key_file": "/k", "port": 2222, "sudo": True}
    p.write_text(json.dumps(old))
    loaded = TestSpec.load(p)
    assert (loaded.ssh_user, loaded.ssh_key, loaded.ssh_port, loaded.ssh_sudo) == \
        ("alice", "/k", 2222, True)


@pytest.mark.parametrize("kw,msg", [
    (dict(rate=math.nan), "--rate nan"),
    (dict(rate=-1.0), "--rate -1.0"),
    (dict(time_limit=math.inf), "--time-limit inf"),
    (dict(time_limit=math.nan), "--time-limit nan"),
    (dict(time_limit=0), "--time-limit 0"),
    (dict(concurrency=0), "--concurrency 0"),
    (dict(nodes=0), "--nodes 0"),
    (dict(nodes=100), "--nodes 100"),
    (dict(nemesis_interval=-2.0), "--nemesis-interval"),
    (dict(recovery_time=-1.0), "--recovery-time"),
    (dict(seed=-5), "--seed -5"),
    (dict(name="../etc"), "--name '../etc'"),
    (dict(hosts=["a", "b"]), "needs --backend ssh"),
    (dict(backend="ssh"), "--backend ssh needs hosts"),
])
def test_nonsense_is_refused_with_one_line_naming_the_option(kw: dict, msg: str) -> None:
    with pytest.raises(HarnessError, match=msg.replace("(", r"\(").replace(".", r"\.")) as e:
        TestSpec(**kw).resolved()
    assert "\n" not in str(e.value)


def test_values_from_files_are_type_checked() -> None:
    with pytest.raises(HarnessError, match="time_limit = 'soon': expected float"):
        TestSpec.from_dict({"time_limit": "soon"}, "c.toml")
    with pytest.raises(HarnessError, match="unknown setting"):
        TestSpec.from_dict({"tiem_limit": 3}, "c.toml")
    assert TestSpec.from_dict({"time-limit": 3}).time_limit == 3.0


def test_parse_helpers() -> None:
    assert parse_list("a, b,,c") == ["a", "b", "c"] and parse_list("none") == []
    assert parse_kv(["a=1", "b = x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(HarnessError, match="-w oops: expected key=value"):
        parse_kv(["oops"], "-w")
    assert parse_nodes("5") == (5, [])
    assert parse_nodes("h1,root@h2:2222") == (2, ["h1", "root@h2:2222"])
    for bad in ("-1", "0", "h1,;rm -rf /"):
        with pytest.raises(HarnessError, match="--nodes"):
            parse_nodes(bad)


def test_every_field_of_the_spec_has_help() -> None:
    for f in dataclasses.fields(TestSpec):
        assert f.metadata.get("help"), f.name


def test_usage_errors_print_usage_and_exit_3(capsys: pytest.CaptureFixture) -> None:
    from splitbrain.cli import main

    assert main(["test", "--bogus"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("Usage: splitbrain test [OPTIONS]") and "--bogus" in err
    assert main(["test", "--concurrency", "x"]) == 3
    assert "'x' is not a valid integer" in capsys.readouterr().err


def test_campaign_is_a_group_whose_default_is_run(tmp_path, capsys) -> None:
    from splitbrain.cli import main

    assert main(["campaign", "--help"]) == 0
    out = capsys.readouterr().out
    assert "merge" in out and "run" in out
    # `splitbrain campaign FILE` still runs the file (here: a missing one, one line, exit 3)
    assert main(["campaign", str(tmp_path / "nope.toml"), "--jobs", "2"]) == 3
    assert "nope.toml: no such campaign file" in capsys.readouterr().err
    assert main(["campaign"]) == 3
    assert "Usage: splitbrain campaign run [OPTIONS] FILE" in capsys.readouterr().err
    assert main(["campaign", "merge", str(tmp_path / "out")]) == 3
    assert "Missing argument 'SHARDS...'" in capsys.readouterr().err
