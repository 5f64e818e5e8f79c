"""``micro get service``, ``micro health`` and ``micro stats``: one service's nodes, schemas and state."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer

from commands._output import Failure, OutputOption, emit_json, out, output_option, table, wants_json

if TYPE_CHECKING:
    from micro.environment import Context
    from micro.registry import Endpoint, Node, Service, Value

__all__ = ["describe_service", "register"]

get_app = typer.Typer(help="Show one thing in detail.", no_args_is_help=True)
# how long one node may take to answer Health or Stats
NODE_TIMEOUT = 5.0


def register(root: typer.Typer) -> None:
    root.add_typer(get_app, name="get")
    root.command("health")(health)
    root.command("stats")(stats)


def _complete(incomplete: str) -> list[str]:
    from commands.call import complete_service

    return complete_service(incomplete)


_NAME = typer.Argument(..., help="The service.", autocompletion=_complete)
_OUTPUT = output_option()


async def _versions(ctx: Context, name: str) -> list[Service]:
    from commands import _client
    from micro import errors

    registry = _client.registry(ctx)
    try:
        found: list[Service] = await registry.get_service(name)
    except errors.NotFound:
        found = []
    finally:
        await registry.close()
    if not found:
        raise errors.NotImplementedError_(f'Service "{name}" not found')
    return found


# --- micro get service -------------------------------------------------------------------


def _value_lines(value: Value | None, indent: int) -> list[str]:
    lines: list[str] = []
    for field in value.values if value is not None else []:
        pad = "  " * indent
        if field.values:
            lines.append(f"{pad}{field.name} {field.type} {{")
            lines.extend(_value_lines(field, indent + 1))
            lines.append(f"{pad}}}")
        else:
            lines.append(f"{pad}{field.name} {field.type}")
    return lines


def _schema_block(title: str, value: Value | None) -> list[str]:
    body = _value_lines(value, 1)
    if not body:
        return [f"{title}: {{}}"]
    return [f"{title}: {{", *body, "}"]


def _endpoint_lines(endpoint: Endpoint) -> list[str]:
    from micro.registry import Streaming

    kind = "" if endpoint.streaming is Streaming.UNARY else f" ({endpoint.streaming.value} stream)"
    return [
        f"Endpoint: {endpoint.name}{kind}",
        "",
        *_schema_block("Request", endpoint.request),
        "",
        *_schema_block("Response", endpoint.response),
        "",
    ]


def describe_service(service: Service) -> list[str]:
    """One service version as v3's ``micro get service`` shows it."""
    lines = [f"service  {service.name}", "", f"version {service.version}", ""]
    rows = [[n.id, n.address, _metadata(n.metadata)] for n in service.nodes]
    width = [max(len(r[i]) for r in [["ID", "ADDRESS", "METADATA"], *rows]) for i in range(3)]
    for row in [["ID", "ADDRESS", "METADATA"], *rows]:
        lines.append("  ".join(cell.ljust(width[i]) for i, cell in enumerate(row)).rstrip())
    lines.append("")
    for endpoint in service.endpoints:
        lines.extend(_endpoint_lines(endpoint))
    return lines


def _metadata(data: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(data.items()))


def _value_json(value: Value | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"name": value.name, "type": value.type, "values": [_value_json(v) for v in value.values]}


def _service_json(service: Service) -> dict[str, Any]:
    return {
        "name": service.name,
        "version": service.version,
        "metadata": dict(service.metadata),
        "nodes": [{"id": n.id, "address": n.address, "metadata": dict(n.metadata)} for n in service.nodes],
        "endpoints": [
            {
                "name": e.name,
                "method": e.method,
                "request_type": e.request_type,
                "response_type": e.response_type,
                "streaming": e.streaming.name,
                "request": _value_json(e.request),
                "response": _value_json(e.response),
                "metadata": dict(e.metadata),
            }
            for e in service.endpoints
        ],
    }


@get_app.command("service")
def get_service(name: str = _NAME, output: OutputOption | None = _OUTPUT) -> None:
    """Show a service's versions, nodes (id, address, metadata) and endpoint schemas."""
    from commands import _client

    ctx = _client.context()
    versions = _client.run(lambda: _versions(ctx, name))
    if wants_json(output.value if output else None):
        emit_json([_service_json(s) for s in versions])
        return
    for i, service in enumerate(versions):
        lines = describe_service(service)
        while lines and not lines[-1]:
            lines.pop()
        if i:
            out()
        out("\n".join(lines))


# --- micro health / micro stats ---------------------------------------------------------


def _node_metadata(ctx: Context, service: str) -> tuple[tuple[str, str], ...]:
    from micro._grpc import call_metadata

    return call_metadata(namespace=ctx.namespace, token=ctx.token, service=service)


async def _node_health(ctx: Context, service: str, node: Node) -> str:
    """``ok`` or what is wrong: debug.Debug/Health, else the standard gRPC health check."""
    import grpc

    from micro import errors
    from micro._grpc import CHANNEL_OPTIONS, rpc_errors
    from micro.proto.debug import debug_pb2, debug_pb2_grpc

    md = _node_metadata(ctx, service)
    async with grpc.aio.insecure_channel(node.address, options=CHANNEL_OPTIONS) as channel:
        try:
            with rpc_errors(node.address):
                reply = await debug_pb2_grpc.DebugStub(channel).Health(
                    debug_pb2.HealthRequest(service=service), metadata=md, timeout=NODE_TIMEOUT
                )
            return reply.status or "unknown"
        except errors.NotImplementedError_:
            pass
        except errors.Unavailable:
            return "unreachable"
        except errors.MicroError as exc:
            return f"error: {exc.detail}"
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        try:
            with rpc_errors(node.address):
                check = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=service), metadata=md, timeout=NODE_TIMEOUT
                )
        except errors.MicroError as exc:
            return f"error: {exc.detail}"
        serving = check.status == health_pb2.HealthCheckResponse.SERVING
        return "ok" if serving else health_pb2.HealthCheckResponse.ServingStatus.Name(check.status).lower()


def health(name: str = _NAME, output: OutputOption | None = _OUTPUT) -> None:
    """Health of every node of a service: <node> <address> <status>."""
    from commands import _client

    ctx = _client.context()

    async def body() -> list[tuple[Node, str]]:
        nodes = [node for service in await _versions(ctx, name) for node in service.nodes]
        import asyncio

        statuses = await asyncio.gather(*(_node_health(ctx, name, node) for node in nodes))
        return list(zip(nodes, statuses, strict=True))

    results = _client.run(body)
    if wants_json(output.value if output else None):
        emit_json([{"node": n.id, "address": n.address, "status": s} for n, s in results])
    else:
        for node, status in results:
            out(f"{node.id} {node.address} {status}")
    if any(status != "ok" for _, status in results):
        raise typer.Exit(1)


async def _node_stats(ctx: Context, service: str, node: Node) -> dict[str, Any]:
    import grpc
    from google.protobuf import json_format

    from micro import errors
    from micro._grpc import CHANNEL_OPTIONS, rpc_errors
    from micro.proto.debug import debug_pb2, debug_pb2_grpc

    item: dict[str, Any] = {"node": node.id, "address": node.address}
    async with grpc.aio.insecure_channel(node.address, options=CHANNEL_OPTIONS) as channel:
        try:
            with rpc_errors(node.address):
                reply = await debug_pb2_grpc.DebugStub(channel).Stats(
                    debug_pb2.StatsRequest(service=service),
                    metadata=_node_metadata(ctx, service),
                    timeout=NODE_TIMEOUT,
                )
        except errors.Unavailable:
            item["error"] = "unreachable"
            return item
        except errors.NotImplementedError_:
            item["error"] = "no stats (the node does not answer debug.Debug)"
            return item
        except errors.MicroError as exc:
            item["error"] = exc.detail
            return item
    item.update(
        json_format.MessageToDict(
            reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    )
    return item


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{n}B"


def _stats_row(item: dict[str, Any]) -> list[str]:
    from micro._duration import format_duration

    if "error" in item:
        return [item["node"], item["address"], item["error"], "", "", "", "", ""]
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(item["started"])))
    return [
        item["node"],
        item["address"],
        started,
        format_duration(int(item["uptime"])),
        _size(int(item["memory"])),
        str(item["threads"]),
        str(item["requests"]),
        str(item["errors"]),
    ]


def stats(name: str = _NAME, output: OutputOption | None = _OUTPUT) -> None:
    """Per node: started, uptime, memory, threads, requests and errors.

    Exits 1 when a node does not answer (after printing what the others said), as health.
    """
    from commands import _client

    ctx = _client.context()

    async def body() -> list[dict[str, Any]]:
        nodes = [node for service in await _versions(ctx, name) for node in service.nodes]
        import asyncio

        return list(await asyncio.gather(*(_node_stats(ctx, name, node) for node in nodes)))

    results = _client.run(body)
    if wants_json(output.value if output else None):
        emit_json(results)
    elif not results:
        raise Failure(f'Service "{name}" has no nodes', 1)
    else:
        headers = ["NODE", "ADDRESS", "STARTED", "UPTIME", "MEMORY", "THREADS", "REQUESTS", "ERRORS"]
        table(headers, [_stats_row(item) for item in results])
    if any("error" in item for item in results):  # as health: a node that did not answer fails
        raise typer.Exit(1)
