"""Auth's caches (rules, revocation checks, verified tokens) keep time.monotonic() stamps:
every test here runs as on a machine booted a moment ago, where it reads near 0."""

from __future__ import annotations

import pytest

from tests.conftest import BootClock


@pytest.fixture(autouse=True)
def _booted(just_booted: BootClock) -> BootClock:
    return just_booted
