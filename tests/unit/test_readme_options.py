"""Every command-line option the README and docs show exists (a renamed flag fails here)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from splitbrain.cli import app

ROOT = Path(__file__).resolve().parents[2]
#: flags of other programs the docs show next to ours, and the usage-error example
OTHERS = {"--splitbrain-store", "--junitxml",           # pytest
          "--fsync", "--no-fsync",                      # the example server in plugins.md
          "--bogus"}                                    # `splitbrain test --bogus`: exit 3


def _all_options(cmd: click.Command) -> set[str]:
    out = {o for p in cmd.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])
           if o.startswith("--")}
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            out |= _all_options(sub)
    return out


@pytest.mark.parametrize("doc", ["README.md", "docs/ci.md", "docs/plugins.md"])
def test_every_flag_in_the_docs_is_real(doc: str) -> None:
    known = _all_options(app) | OTHERS
    text = (ROOT / doc).read_text(encoding="utf-8")
    shown = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
    assert shown, doc
    assert sorted(shown - known) == [], f"{doc} shows flags that no command has"
