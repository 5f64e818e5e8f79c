"""A raw gRPC node for auth tests: one unary bytes method that reports what the node saw."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

__all__ = ["identity", "start_node"]


def identity(data: bytes) -> bytes:
    return data


async def start_node(
    service: str, method: str, answer: Callable[[dict[str, str]], bytes]
) -> tuple[grpc.aio.Server, str]:
    """A node serving ``/<service>/<method>`` that answers ``answer(metadata)``; returns the
    server and its address (a free port)."""

    async def call(request: bytes, context: Any) -> bytes:
        return answer(dict(context.invocation_metadata()))

    handler: Callable[[bytes, Any], Awaitable[bytes]] = call
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                service, {method: grpc.unary_unary_rpc_method_handler(handler, identity, identity)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"
