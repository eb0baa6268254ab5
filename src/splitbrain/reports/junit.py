"""JUnit XML for a campaign: one ``<testcase>`` per run.

Mapping (what CI dashboards show), for a run expecting ``valid`` (the default):

* valid -> a passing testcase;
* invalid -> ``<failure type="invalid">`` whose message is the anomaly summary
  (which checker, key and op) and whose text adds the report's path;
* unknown (a checker could not decide, e.g. its time limit ran out) ->
  ``<skipped>``: neither a pass nor evidence of a bug;
* error: the harness itself failed (exit code 3: cluster would not start, bad
  input, interrupted) -> ``<error>``; a run never started (campaign interrupted)
  -> ``<skipped message="not run">``.

A run expecting ``invalid`` (a known bug kept in the nightly) passes when it is
invalid and is a ``<failure type="not-caught">`` when it comes back valid.
Each testcase's ``<properties>`` (first, as the schema wants) hold the run's whole
spec, options and the actual seed included.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


def junit_tree(suite: str, runs: list[dict[str, Any]], elapsed_s: float = 0.0) -> ET.ElementTree:
    """Build the XML tree. Each run dict has name, classname, verdict, summary, error,
    elapsed_s, report, run_dir, spec (see :mod:`splitbrain.harness.campaign`)."""
    root = ET.Element("testsuites", name=suite)
    ts = ET.SubElement(root, "testsuite", name=suite)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for r in runs:
        counts["tests"] += 1
        tc = ET.SubElement(ts, "testcase", name=str(r.get("name")),
                           classname=str(r.get("classname") or "splitbrain"),
                           time=f"{float(r.get('elapsed_s') or 0):.3f}")
        props = ET.SubElement(tc, "properties")
        ET.SubElement(props, "property", name="expect", value=str(r.get("expect", "valid")))
        ET.SubElement(props, "property", name="verdict", value=str(r.get("verdict")))
        for k, v in sorted((r.get("spec") or {}).items()):
            ET.SubElement(props, "property", name=k, value=_prop(v))
        detail = f"report: {r.get('report') or '(none)'}\nrun dir: {r.get('run_dir') or '(none)'}"
        expect = r.get("expect", "valid")
        verdict = r.get("verdict")
        if r.get("status") == "not-run":
            counts["skipped"] += 1
            ET.SubElement(tc, "skipped", message="not run (the campaign was interrupted)")
        elif r.get("error"):
            counts["errors"] += 1
            e = ET.SubElement(tc, "error", message=str(r["error"]), type="harness")
            e.text = f"{r['error']}\n{detail}"
        elif verdict == "invalid" and expect != "invalid":
            counts["failures"] += 1
            e = ET.SubElement(tc, "failure", message=str(r.get("summary") or "invalid"),
                              type="invalid")
            e.text = f"{r.get('summary') or ''}\n{detail}"
        elif verdict == "valid" and expect == "invalid":
            counts["failures"] += 1
            e = ET.SubElement(tc, "failure", type="not-caught",
                              message="expected invalid (a known bug), but the run was valid: "
                                      "the bug was not caught this time")
            e.text = detail
        elif verdict not in ("valid", "invalid"):
            counts["skipped"] += 1
            ET.SubElement(tc, "skipped", message=f"verdict unknown: {r.get('summary') or ''}")
        out = ET.SubElement(tc, "system-out")
        out.text = f"{r.get('summary') or ''}\n{detail}".strip()
    for k, v in counts.items():
        ts.set(k, str(v))
        root.set(k, str(v))
    ts.set("time", f"{elapsed_s:.3f}")
    root.set("time", f"{elapsed_s:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def _prop(v: Any) -> str:
    if isinstance(v, list):
        return ",".join(map(str, v))
    if isinstance(v, dict):
        return ",".join(f"{a}={b}" for a, b in sorted(v.items()))
    return "" if v is None else str(v)


def write_junit(path: Path, suite: str, runs: list[dict[str, Any]], elapsed_s: float = 0.0) -> Path:
    """Write the JUnit XML file (UTF-8, with declaration) and return its path."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    junit_tree(suite, runs, elapsed_s).write(path, encoding="utf-8", xml_declaration=True)
    return path
