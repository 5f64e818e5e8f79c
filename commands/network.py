"""``micro network services|nodes|routes``: what is reachable in the namespace, and the calls
made to it (counted at the proxy, the gateway and in services' clients, merged by the server's
network service)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from commands._output import OutputOption, emit_json, err, out, output_option, table, wants_json

if TYPE_CHECKING:
    from micro.environment import Context
    from micro.network import NodeStatus
    from micro.network.grpc import GrpcNetwork

__all__ = ["format_ms", "register"]

app = typer.Typer(help="Services, nodes and routes reachable in the namespace.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="network")


def _network(ctx: Context) -> GrpcNetwork:
    from micro.network.grpc import GrpcNetwork

    return GrpcNetwork(ctx.address, namespace=ctx.namespace, token=ctx.token)


def _complete(incomplete: str) -> list[str]:
    from commands.call import complete_service

    return complete_service(incomplete)


_SERVICE = typer.Argument("", help="Only this service.", autocompletion=_complete, show_default=False)


def format_ms(value: float) -> str:
    """A latency for the table: ``0.42ms``, ``12.5ms``, ``1250ms``; ``-`` without calls."""
    if value <= 0:
        return "-"
    if value < 10:
        return f"{value:.2f}ms"
    if value < 100:
        return f"{value:.1f}ms"
    return f"{value:.0f}ms"


def _node_json(node: NodeStatus) -> dict[str, str]:
    return {"service": node.service, "id": node.id, "address": node.address, "status": node.status}


@app.command("services")
def services(output: OutputOption | None = output_option()) -> None:
    """Services registered in the namespace, sorted, one per line."""
    from commands import _client

    ctx = _client.context()
    names = _client.using(_network, ctx, lambda network: network.services())
    if wants_json(output):
        emit_json(names)
        return
    for name in names:
        out(name)


@app.command("nodes")
def nodes(service: str = _SERVICE, output: OutputOption | None = output_option()) -> None:
    """Nodes of the namespace's services: service, id, address and health."""
    from commands import _client

    ctx = _client.context()
    found = _client.using(_network, ctx, lambda network: network.nodes(service))
    if wants_json(output):
        emit_json([_node_json(n) for n in found])
        return
    table(["SERVICE", "ID", "ADDRESS", "STATUS"], [[n.service, n.id, n.address, n.status] for n in found])


@app.command("routes")
def routes(service: str = _SERVICE, output: OutputOption | None = output_option()) -> None:
    """Calls per service endpoint: requests, errors, p50 and p99 latency.

    A node that did not answer in time is named on stderr; the others' counts are shown.
    """
    from commands import _client

    ctx = _client.context()
    found, missing = _client.using(_network, ctx, lambda network: network.routes(service))
    if wants_json(output):
        data: dict[str, Any] = {
            "routes": [
                {
                    "service": r.service,
                    "endpoint": r.endpoint,
                    "requests": r.requests,
                    "errors": r.errors,
                    "p50_ms": r.p50_ms,
                    "p99_ms": r.p99_ms,
                }
                for r in found
            ],
            "unanswered": [_node_json(n) for n in missing],
        }
        emit_json(data)
        return
    table(
        ["SERVICE", "ENDPOINT", "REQUESTS", "ERRORS", "P50", "P99"],
        [
            [r.service, r.endpoint, str(r.requests), str(r.errors), format_ms(r.p50_ms), format_ms(r.p99_ms)]
            for r in found
        ],
    )
    for node in missing:
        err(f"No counts from node {node.id} of {node.service} at {node.address}: {node.status}")
