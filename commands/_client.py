"""Clients for the commands: the resolved context and the gRPC interfaces it points at.

Imported by commands inside their functions (it pulls in grpc through the clients).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from commands._output import globals_

if TYPE_CHECKING:
    from micro.environment import Context
    from micro.registry import Registry
    from micro.store import Store

__all__ = ["context", "registry", "run", "store"]

T = TypeVar("T")


def context() -> Context:
    """Where this command goes (global options, ``MICRO_*``, then config.json)."""
    from micro import environment

    return environment.resolve(globals_.env, globals_.namespace)


def store(ctx: Context) -> Store:
    from micro.store.grpc import GrpcStore

    return GrpcStore(ctx.address, namespace=ctx.namespace, token=ctx.token)


def registry(ctx: Context) -> Registry:
    from micro.registry.grpc import GrpcRegistry

    return GrpcRegistry(ctx.address, namespace=ctx.namespace, token=ctx.token)


def run(body: Callable[[], Awaitable[T]]) -> T:
    """Run one command's async body to completion."""

    async def main() -> T:
        return await body()

    return asyncio.run(main())
