"""The gRPC proxy: the server's catch-all forwarding of non-core methods to service nodes.

See :mod:`server.proxy.forward`. The auth interceptor checks every call before it reaches the
proxy; the proxy forwards a call token minted for the hop (``Forwarder(mint=…)``), never the
caller's own token.
"""

from __future__ import annotations

from server.proxy.forward import Forwarder, Mint

__all__ = ["Forwarder", "Mint"]
