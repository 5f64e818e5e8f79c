"""Clients for the commands: the resolved context and the gRPC interfaces it points at.

Imported by commands inside their functions (it pulls in grpc through the clients).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from commands._output import globals_

if TYPE_CHECKING:
    from micro.auth.grpc import GrpcAuth
    from micro.environment import Context
    from micro.registry import Registry
    from micro.store import Store

__all__ = ["auth", "context", "parse_timeout", "registry", "run", "store", "using"]

T = TypeVar("T")


class Closing(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=Closing)

_stored: list[Context] = []  # the context whose token came from the stored login


def parse_timeout(text: str) -> float | None:
    """``--timeout``: ``15s``, ``2m``, ``500ms``, plain seconds; ``0`` for no deadline."""
    from commands._output import Failure
    from micro._duration import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError:
        raise Failure(f"Invalid timeout {text!r}: expected a duration such as 10s") from None
    return seconds or None


def context(*, login: bool = True) -> Context:
    """Where this command goes (global options, ``MICRO_*``, then config.json), with the
    access token of the env + namespace's login (``MICRO_TOKEN`` wins; refreshed silently
    when close to expiry). ``login=False`` leaves stored credentials alone.

    Every unary call made from here on has the ``--timeout`` deadline (streams none)."""
    import dataclasses

    from micro import _platform, environment

    _platform.set_call_deadline(globals_.timeout)

    ctx = environment.resolve(globals_.env, globals_.namespace)
    if login and ctx.token is None:
        from micro import credentials

        token = credentials.access_token(ctx.env.name, ctx.namespace, ctx.address)
        if token:
            ctx = dataclasses.replace(ctx, token=token)
            _stored[:] = [ctx]
    return ctx


# the server's verdicts on a token itself (as opposed to "an account is required" etc.)
_TOKEN_REFUSED = frozenset({"invalid token", "token has expired", "token has been revoked"})


def auth(ctx: Context) -> GrpcAuth:
    from micro.auth.grpc import GrpcAuth

    return GrpcAuth(ctx.address, namespace=ctx.namespace, token=ctx.token)


def store(ctx: Context) -> Store:
    from micro.store.grpc import GrpcStore

    return GrpcStore(ctx.address, namespace=ctx.namespace, token=ctx.token)


def registry(ctx: Context) -> Registry:
    from micro.registry.grpc import GrpcRegistry

    return GrpcRegistry(ctx.address, namespace=ctx.namespace, token=ctx.token)


def run(body: Callable[[], Awaitable[T]]) -> T:
    """Run one command's async body to completion."""
    import asyncio

    async def main() -> T:
        return await body()

    return run_sync(lambda: asyncio.run(main()))


def run_sync(body: Callable[[], T]) -> T:
    """Run one command's blocking body (no event loop: a blocking wait inside asyncio.run
    would not end on Ctrl-C, whose first press only cancels the loop's task)."""
    try:
        return body()
    except Exception as exc:
        from micro import errors

        if not (_stored and isinstance(exc, errors.Unauthorized) and exc.detail in _TOKEN_REFUSED):
            raise
        from micro import credentials

        ctx = _stored[0]
        raise credentials.refused(ctx.env.name, ctx.namespace, exc.detail) from exc


def using(client: Callable[[Context], C], ctx: Context, use: Callable[[C], Awaitable[T]]) -> T:
    """Run ``use`` on a new ``client`` for ``ctx`` (:func:`store`, :func:`auth`,
    :func:`registry`) and close it after: the body of most commands."""

    async def body() -> T:
        opened = client(ctx)
        try:
            return await use(opened)
        finally:
            await opened.close()

    return run(body)
