"""Two live runs of one test name would share nodes: the second is refused."""

from __future__ import annotations

import pytest

from splitbrain.errors import HarnessError
from splitbrain.harness.locks import lock_test_name


def test_second_holder_of_a_name_is_refused_until_the_first_releases() -> None:
    first = lock_test_name("pytest-lock-name")
    try:
        with pytest.raises(HarnessError, match="in progress .*another --name"):
            lock_test_name("pytest-lock-name")
        other = lock_test_name("pytest-lock-other")  # other names are independent
        other.close()
    finally:
        first.close()
    lock_test_name("pytest-lock-name").close()  # free again once released
