"""How the server serves each method: one wrapper per method, built when the method's
handler is added, that counts the call for ``Stats`` (core methods), admits its caller
through the auth boundary (auth on) and turns errors into gRPC status — one coroutine per
call for all three (:func:`micro._grpc.wrap_handler`), and no interceptor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from micro._grpc import SERVER_OPTIONS, WrappingServer, wrap_handler
from server.debug import is_core

if TYPE_CHECKING:
    from micro._debug import Counters
    from server.auth import AuthInterceptor

__all__ = ["grpc_server"]


def grpc_server(counters: Counters, auth: AuthInterceptor | None) -> WrappingServer:
    """A ``grpc.aio`` server whose methods count core calls in ``counters`` and admit
    every call through ``auth`` (None: nothing is checked; unit tests of single services).

    The proxy's methods (any method not served here) are wrapped the same way, on first use.
    """

    def wrap(handler: Any, method: str) -> Any:
        return wrap_handler(
            handler,
            method,
            counters=counters if is_core(method) else None,
            admit=auth.admit(method) if auth is not None else None,
        )

    return WrappingServer(grpc.aio.server(options=SERVER_OPTIONS), wrap)
