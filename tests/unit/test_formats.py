"""History readers against every reference history, plus malformed-input messages."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from corpus import histories_dir, missing

from splitbrain.errors import HistoryError
from splitbrain.history.formats import Keyword, parse_edn, parse_history, read_history, sniff
from splitbrain.history.ops import Op, pair


def _corpus() -> Path:
    """The reference histories (see corpus.py: never committed here)."""
    return histories_dir() or Path("/nonexistent")


HIST = _corpus()
MANIFEST = json.loads((HIST / "MANIFEST.json").read_text()) if (HIST / "MANIFEST.json").exists() else []


@pytest.fixture
def corpus_present() -> None:
    """The reference corpus must exist: skipped locally without it, a failure in CI."""
    if not MANIFEST:
        missing("the reference histories (../shared/histories)")


needs_corpus = pytest.mark.usefixtures("corpus_present")


def _expected_counts(path: Path, fmt: str) -> Counter:
    """Count op types straight from the text, independently of the reader."""
    text = path.read_text()
    if fmt == "jepsen-log":
        return Counter(re.findall(r"\t:(invoke|ok|fail|info)\t", text))
    text = re.sub(r";[^\n]*", "", text)
    return Counter(re.findall(r":type\s+:(invoke|ok|fail|info)", text))


@needs_corpus
@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_reads_every_reference_history(entry: dict) -> None:
    path = HIST / entry["file"]
    ops = read_history(path)  # auto-sniffed
    assert ops == read_history(path, entry["format"])
    want = _expected_counts(path, entry["format"])
    assert Counter(op.type for op in ops) == want
    assert [op.index for op in ops] == list(range(len(ops)))
    # every client invocation is closed by at most one completion of the same f
    pairs = pair(ops)
    assert sum(1 for op in ops if op.type == "invoke" and op.process != "nemesis") == len(pairs)
    for pr in pairs:
        assert pr.invoke.type == "invoke"
        if pr.complete is not None:
            assert pr.complete.process == pr.invoke.process
            assert pr.complete.f == pr.invoke.f
            assert pr.complete.index > pr.invoke.index
    # a process that crashed (info) never invokes again
    crashed: set = set()
    for op in ops:
        if op.process == "nemesis":
            continue
        if op.type == "invoke":
            assert op.process not in crashed
        elif op.type == "info":
            crashed.add(op.process)
    for op in ops:
        assert isinstance(op.f, str) and not op.f.startswith(":")
        assert isinstance(op.process, int) or op.process == "nemesis"


@needs_corpus
def test_etcd_log_details() -> None:
    ops = read_history(HIST / "porcupine-etcd/etcd_000.log")
    assert ops[0] == Op(type="invoke", process=0, f="read", value=None, index=0)
    cas = next(op for op in ops if op.f == "cas")
    assert cas.value == [3, 0]
    infos = [op for op in ops if op.type == "info"]
    assert infos and all(op.value is None and op.error == "timed-out" for op in infos)
    assert any(op.type == "fail" and op.f == "cas" and op.value is not None for op in ops)


@needs_corpus
def test_edn_details() -> None:
    ops = read_history(HIST / "knossos/cas-register/bad/cas-failure.edn")
    nem = [op for op in ops if op.process == "nemesis"]
    assert nem and all(op.type == "info" for op in nem)
    assert any(isinstance(op.value, str) and op.value.startswith("Cut off") for op in nem)
    imm = read_history(HIST / "knossos/cas-register/bad/immediate-failure.edn")
    assert [op.type for op in imm] == ["invoke", "invoke", "fail", "ok"]
    assert imm[2].error == ["temporarily-unavailable", None]
    kv = read_history(HIST / "porcupine-kv/c01-ok.txt")
    assert kv[0].key == "0" and kv[0].f == "append" and kv[0].value == "x 0 0 y"


def test_edn_reader_values() -> None:
    text = r'''; comment
    [nil true false 12 -3 1.5 2N 1/2 "a\"b\n" :kw :ns/kw sym \c #{1 2} (1 2)
     {:a 1, "b" [1 2]} #_ ignored #_{:x 1} #inst "2020-01-01" #jepsen.history.Op{:f :x}]'''
    (v,) = parse_edn(text)
    assert v[:7] == [None, True, False, 12, -3, 1.5, 2]
    assert v[7] == 0.5
    assert v[8] == 'a"b\n'
    assert v[9] == "kw" and isinstance(v[9], Keyword)
    assert v[10] == "ns/kw" and v[11] == "sym" and v[12] == "c"
    assert sorted(v[13]) == [1, 2] and v[14] == [1, 2]
    assert v[15] == {"a": 1, "b": [1, 2]}
    assert v[16] == "2020-01-01"
    assert v[17] == {"f": "x"}
    assert len(v) == 18


def test_one_map_per_line_and_tagged_ops(tmp_path: Path) -> None:
    p = tmp_path / "h.edn"
    p.write_text('#jepsen.history.Op{:index 7, :time 50, :type :invoke, :process 0, :f :write, :value 1}\n'
                 '; a comment\n'
                 '{:index 8, :time 10, :type :ok, :process 0, :f :write, :value 1, :extra-field [1]}\n')
    ops = read_history(p)
    assert [op.index for op in ops] == [0, 1]  # position, not the file's :index
    assert [op.time for op in ops] == [50, 10]  # order kept even when :time disagrees
    assert ops[1].extra["extra-field"] == [1]


def test_jsonl_roundtrip(tmp_path: Path) -> None:
    ops = [Op("invoke", 0, "cas", [1, 2], key="k", time=5), Op("ok", 0, "cas", [1, 2], key="k", time=9),
           Op("info", "nemesis", "start", "partition")]
    p = tmp_path / "history.jsonl"
    p.write_text("".join(op.to_json() + "\n" for op in ops))
    back = read_history(p)
    assert [(o.type, o.process, o.f, o.value, o.key, o.time) for o in back] == \
        [(o.type, o.process, o.f, o.value, o.key, o.time) for o in ops]


def test_history_txt_without_prefix() -> None:
    ops = parse_history("0\t:invoke\t:write\t3\n0\t:ok\t:write\t3\n1 :invoke :read nil\n"
                        "1 :fail :read :timed-out\n:nemesis :info :start nil\n", "jepsen-log")
    assert [(o.process, o.type, o.f, o.value) for o in ops] == [
        (0, "invoke", "write", 3), (0, "ok", "write", 3), (1, "invoke", "read", None),
        (1, "fail", "read", None), ("nemesis", "info", "start", None)]
    assert ops[3].error == "timed-out"


def test_sniffing(tmp_path: Path) -> None:
    assert sniff(Path("x.txt"), '{"type": "invoke"}') == "jsonl"
    assert sniff(Path("x.txt"), "; hi\n{:type :invoke}") == "edn"
    assert sniff(Path("x.txt"), "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]") == "jepsen-log"
    with pytest.raises(HistoryError, match="cannot tell the history format"):
        sniff(Path("x.txt"), "hello world")


@pytest.mark.parametrize("name,text,line,what", [
    ("reuse.edn", "{:process 1 :type :invoke :f :write :value 1}\n"
                  "{:process 1 :type :info :f :write :value 1}\n"
                  "{:process 1 :type :invoke :f :read :value nil}\n", 3, "invoked after an info"),
    ("unclosed.edn", "[{:process 1 :type :invoke :f :read}\n {:process 1 :type :ok\n", 2, "never closed"),
    ("noproc.edn", "{:type :invoke :f :read}\n", 1, "lacks :process"),
    ("badtype.edn", "{:process 0 :type :done :f :read}\n", 1, ":type must be one of"),
    ("odd.edn", "\n\n{:process 0 :type}\n", 3, "odd number"),
    ("bad.jsonl", '{"type": "invoke", "process": 0, "f": "read"}\n{"type": ok}\n', 2, "invalid JSON"),
    ("missing.jsonl", '{"type": "invoke", "f": "read"}\n', 1, "lacks 'process'"),
    ("bad.log", "INFO  jepsen.util - 0\t:invoke\t:write\t[1\n", 1, "bad value"),
    ("garbage.log", "0 :invoke :read nil\n0 banana\n", 2, "not a history line"),
    ("orphan.log", "0\t:ok\t:read\t1\n", 1, "no open invocation"),
    ("twice.log", "0 :invoke :read nil\n0 :invoke :read nil\n", 2, "invoked again"),
])
def test_malformed_one_line_errors(tmp_path: Path, name: str, text: str, line: int, what: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(HistoryError) as ei:
        read_history(p)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"{p}:{line}: "), msg
    assert what in msg
    assert ei.value.line == line


def test_missing_file_and_bad_format(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no such file"):
        read_history(tmp_path / "nope.edn")
    with pytest.raises(HistoryError, match="unknown format"):
        read_history(tmp_path / "nope.edn", "yaml")


def test_fast_path_matches_the_tokenizer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flat op maps take a regex fast path; it must read exactly what the tokenizer reads."""
    import splitbrain.history.formats as formats

    text = ('[{:process 0, :type :invoke, :f :cas, :value [1 -2], :time 12}\n'
            ' {:process :nemesis :type :info :f :start :value "a b" :extra [:x nil true "s"]}\n'
            ' {:process 1 :type :ok :f :read :value 1.5 :k nilly}\n'
            ' {:process 1 :type :ok :f :read :value "esc\\"aped" :n 1N :m {:a 1}}]')
    fast = parse_edn(text)
    monkeypatch.setattr(formats, "_FAST_MAP", re.compile(r"(?!)"))
    assert parse_edn(text) == fast
    assert fast[0][0] == {"process": 0, "type": "invoke", "f": "cas", "value": [1, -2], "time": 12}
    assert fast[0][2]["value"] == 1.5 and fast[0][3]["value"] == 'esc"aped'
