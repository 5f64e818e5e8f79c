"""``micro api``: the HTTP API gateway as tools see it — its OpenAPI document."""

from __future__ import annotations

from typing import Any

import typer

from commands._output import emit_json

app = typer.Typer(help="The HTTP API gateway's OpenAPI document.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="api")


@app.command("openapi")
def openapi(
    service: str | None = typer.Option(None, "--service", help="Describe this service alone."),
) -> None:
    """Print the gateway's OpenAPI 3.1 document (its /openapi.json) for the namespace, as JSON."""
    from commands import _client

    ctx = _client.context()

    async def body() -> dict[str, Any]:
        import micro
        from micro import errors
        from micro.client.dynamic import service_not_found
        from server.api.openapi import document
        from server.api.schemas import callable_in

        registry = _client.registry(ctx)
        try:
            schemas = await callable_in(registry, ctx.namespace, only=service)
        except errors.NotFound:
            raise service_not_found(service or "?") from None
        finally:
            await registry.close()
        return document(schemas, namespace=ctx.namespace, version=micro.__version__)

    emit_json(_client.run(body))
