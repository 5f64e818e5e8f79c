"""The server a core service run alone joins stands in for every backend it does not own."""

from __future__ import annotations

from pathlib import Path

from server import core, profiles
from server.upstream import Upstream


async def _anonymous() -> str | None:
    return None


async def test_every_backend_concern_has_a_client_for_a_service_run_alone(tmp_path: Path) -> None:
    """A concern added to the profiles without one stopped `micro service store` with a KeyError."""
    upstream = Upstream("127.0.0.1:1", _anonymous)
    try:
        for concern in profiles.BACKENDS:
            assert upstream.backend(concern) is not None, concern
        for row in core.CORE_SERVICES:  # what each service run alone is given, with nothing started
            given = {c: upstream.backend(c) for c in profiles.BACKENDS if c not in row.backends}
            backends = profiles.build("test", tmp_path, given=given)
            for concern, client in given.items():
                assert getattr(backends, concern) is client
    finally:
        await upstream.close()
