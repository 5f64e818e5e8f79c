"""Route guide nodes registered with the in-process ``server`` fixture (see tests/server/proxy)."""

from __future__ import annotations

from tests.server.proxy.conftest import rg, start_node

__all__ = ["rg", "start_node"]
