"""The gRPC proxy: the server's catch-all forwarding of non-core methods to service nodes.

See :mod:`server.proxy.forward`. Auth at the edge plugs in as ``Forwarder(authorize=…)``.
"""

from __future__ import annotations

from server.proxy.forward import Authorize, CallInfo, Forwarder

__all__ = ["Authorize", "CallInfo", "Forwarder"]
