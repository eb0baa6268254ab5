"""Every exception the harness raises or maps, in one place (floor 1: imports nothing of ours).

:class:`HarnessError` and its subclasses are failures of the harness itself (exit
code 3, one line on stderr). :class:`ClientError` is an op's outcome, not a harness
failure: the runner records it as ``fail`` or ``info``. :class:`HistoryError` and
:class:`ModelError` are bad input to a checker.
"""

from __future__ import annotations


class HarnessError(RuntimeError):
    """A failure of the harness itself (exit code 3): bad input, a cluster that won't start.

    The message is one line a user can act on; the CLI prints it without a traceback.
    """


class NodeCommandError(HarnessError):
    """A command on a node exited non-zero when ``check=True``."""

    def __init__(self, node: str, cmd: str, rc: int, stderr: str) -> None:
        self.node, self.cmd, self.rc, self.stderr = node, cmd, rc, stderr
        tail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        super().__init__(f"on {node}: `{cmd}` exited {rc}" + (f": {tail}" if tail else ""))


class ClusterGone(HarnessError):
    """The cluster asked for does not exist (any more): nothing to attach to or heal."""


class Interrupted(HarnessError):
    """The run was interrupted (Ctrl-C / SIGTERM)."""


class ClientError(Exception):
    """An op that errored. ``definite``: True if it certainly did not take effect.

    The runner records ``fail`` for a definite error and ``info`` otherwise.
    """

    def __init__(self, message: str, *, definite: bool) -> None:
        super().__init__(message)
        self.definite = definite


class HistoryError(ValueError):
    """A history that breaks the model: names the source, the line and the problem."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source, self.line, self.message = source, line, message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class ModelError(ValueError):
    """An op a linearizability model cannot interpret (wrong ``f`` or value shape)."""
