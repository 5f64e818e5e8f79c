"""``micro call`` and ``micro stream``: call any registered endpoint with JSON, no stubs needed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from commands._output import Failure, OutputOption, out, output_option, wants_json

if TYPE_CHECKING:
    from micro.client.dynamic import Guard, Schemas
    from micro.environment import Context

__all__ = ["complete_endpoint", "complete_service", "parse_metadata", "register"]

T = TypeVar("T")


def register(root: typer.Typer) -> None:
    root.command("call")(call)
    root.command("stream")(stream)


def complete_service(incomplete: str) -> list[str]:
    """Registered service names starting with ``incomplete`` (shell completion)."""
    from commands import _client

    async def body() -> list[str]:
        registry = _client.registry(_client.context())
        try:
            return sorted({s.name for s in await registry.list_services()})
        finally:
            await registry.close()

    try:
        names = _client.run(body)
    except Exception:  # completion never fails loudly
        return []
    return [name for name in names if name.startswith(incomplete)]


def complete_endpoint(ctx: typer.Context, incomplete: str) -> list[str]:
    """Endpoint names of the service typed before (shell completion; schemas come cached)."""
    from commands import _client

    service = str(ctx.params.get("service") or "")
    if not service:
        return []

    async def body() -> list[str]:
        schemas = _schemas(_client.context())
        try:
            return sorted({e.name for s in await schemas.get(service) for e in s.endpoints})
        finally:
            await schemas.close()

    try:
        names = _client.run(body)
    except Exception:
        return []
    return [name for name in names if name.startswith(incomplete)]


_SERVICE = typer.Argument(..., help="The service.", autocompletion=complete_service)
_ENDPOINT = typer.Argument(..., help="The endpoint: Handler.Method.", autocompletion=complete_endpoint)
_REQUEST = typer.Argument("{}", help="The request as JSON (default {}).")
_METADATA = typer.Option(None, "--metadata", help="Metadata k=v (repeatable).")
_ADDRESS = typer.Option(None, "--address", help="Call this node (host:port) directly.")
_OUTPUT = output_option("-o", "--output")


def parse_metadata(items: list[str] | None) -> dict[str, str]:
    """``--metadata k=v`` items as a dict (a later key wins)."""
    result: dict[str, str] = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise Failure(f"Invalid metadata {item!r}: expected key=value")
        result[key.strip()] = value
    return result


def _timeout(text: str | None) -> float | None:
    """``--timeout`` after ``call``/``stream``: the global option given late (it wins over
    ``micro --timeout``); None when not given."""
    from commands._client import parse_timeout
    from commands._output import globals_

    if text is None:
        return None
    globals_.timeout = parse_timeout(text)
    return globals_.timeout


def _schemas(ctx: Context) -> Schemas:
    from micro.client.dynamic import Schemas

    return Schemas(ctx.address, namespace=ctx.namespace, token=ctx.token)


def read_only_guard(ctx: Context) -> Guard:
    """Refuses, before anything is sent, a call a read-only environment must not take: one
    whose endpoint is not marked side-effect free (nor a session call)."""
    from functools import partial

    from micro.environment import refuse_unless_side_effect_free

    return partial(refuse_unless_side_effect_free, ctx)


def method_name_failure(exc: Exception) -> Failure:
    """The CLI's exit 3 for a malformed ``Handler.Method``."""
    return Failure(str(getattr(exc, "detail", exc)), 3)


def _calling(node: str | None, body: Callable[[], Awaitable[T]]) -> T:
    """Run a call's body; a node given with ``--address`` that cannot be reached is named
    as the node it is (the channel's error says "micro server at ADDR")."""
    from commands import _client
    from micro import errors
    from micro.client import dynamic

    try:
        return _client.run(body)
    except dynamic.InvalidMethodName as exc:
        raise method_name_failure(exc) from exc
    except errors.Unavailable as exc:
        server = f"micro server at {node}"
        if node is None or server not in exc.detail:
            raise
        raise errors.Unavailable(exc.detail.replace(server, f"node {node}")) from exc


def call(
    service: str = _SERVICE,
    endpoint: str = _ENDPOINT,
    request: str = _REQUEST,
    metadata: list[str] | None = _METADATA,
    timeout: str | None = typer.Option(
        None, "--timeout", "--request_timeout", help="Deadline of the call (default: micro --timeout, 10s)."
    ),
    address: str | None = _ADDRESS,
    output: OutputOption | None = _OUTPUT,
) -> None:
    """Call a service endpoint with a JSON request and print the JSON response."""
    from commands import _client
    from micro.client import dynamic

    _timeout(timeout)
    ctx = _client.context()  # unary calls get the deadline from here
    headers = parse_metadata(metadata)

    async def body() -> dict[str, Any]:
        return await dynamic.call(
            ctx.address, service, endpoint, request, namespace=ctx.namespace, token=ctx.token,
            metadata=headers, node=address,
            guard=read_only_guard(ctx),
        )  # fmt: skip

    response = _calling(address, body)
    out(dynamic.dumps(response))


def stream(
    service: str = _SERVICE,
    endpoint: str = _ENDPOINT,
    request: str = _REQUEST,
    metadata: list[str] | None = _METADATA,
    timeout: str | None = typer.Option(
        None, "--timeout", "--request_timeout", help="Deadline of the whole stream (default: none)."
    ),
    address: str | None = _ADDRESS,
    output: OutputOption | None = _OUTPUT,
) -> None:
    """Call a streaming endpoint and print each response as it arrives."""
    from commands import _client
    from micro.client import dynamic

    deadline = _timeout(timeout)
    ctx = _client.context()
    headers = parse_metadata(metadata)
    compact = wants_json(output.value if output else None)

    async def body() -> None:
        responses = dynamic.stream(
            ctx.address, service, endpoint, request, namespace=ctx.namespace, token=ctx.token,
            metadata=headers, timeout=deadline, node=address,
            guard=read_only_guard(ctx),
        )  # fmt: skip
        async for item in responses:
            out(dynamic.dumps(item, compact=compact))
            flush()

    _calling(address, body)


def flush() -> None:
    """Responses of a stream show as they arrive, even through a pipe."""
    import sys

    sys.stdout.flush()
