"""``micro services``: names of the services registered in the namespace."""

import typer

from commands._output import OutputOption, emit_json, out, output_option, wants_json


def register(root: typer.Typer) -> None:
    root.command("services")(services)


def services(output: OutputOption | None = output_option()) -> None:
    """List registered services, sorted, one per line."""
    from commands import _client

    ctx = _client.context()

    async def body() -> list[str]:
        registry = _client.registry(ctx)
        try:
            return sorted({s.name for s in await registry.list_services()})
        finally:
            await registry.close()

    names = _client.run(body)
    if wants_json(output):
        emit_json(names)
    else:
        for name in names:
            out(name)
