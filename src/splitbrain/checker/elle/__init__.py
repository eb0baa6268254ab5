"""Elle-style transactional isolation checker (list-append and rw-register histories).

``check(ops, kind=..., consistency_model=...)`` infers a dependency graph between
transactions from what they read and wrote, searches it for Adya's anomalies (G0, G1a,
G1b, G1c, G-single, G2-item ... with process and real-time variants) and reports the
weakest consistency models the history rules out. Learned from jepsen-io/elle.
"""

from .checker import ElleChecker, ElleResult, check

__all__ = ["ElleChecker", "ElleResult", "check"]
