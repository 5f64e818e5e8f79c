"""``micro config``: get, set, delete and watch the namespace's config document."""

import json
import sys
from datetime import UTC
from typing import TYPE_CHECKING, Any

import typer

from commands._output import OutputOption, emit_json, out, output_option, wants_json

if TYPE_CHECKING:
    from micro.config import Change, Config
    from micro.environment import Context

app = typer.Typer(help="Read, write and watch dynamic config.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="config")


_OUTPUT = output_option()


def _config(ctx: "Context") -> "Config":
    from micro.config.grpc import GrpcConfig

    return GrpcConfig(ctx.address, namespace=ctx.namespace, token=ctx.token)


def compact(value: Any) -> str:
    """A value as one line of JSON (``<``/``>`` and non-ASCII left as they are)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_value(text: str) -> Any:
    """``VALUE`` as JSON when it is JSON, else the text (:func:`micro.config._values.parse_value`)."""
    from micro.config._values import parse_value as parse

    return parse(text)


@app.command("get")
def get(
    path: str = typer.Argument(..., help="Dotted path, e.g. db.host."),
    secret: bool = typer.Option(False, "-s", "--secret", help="Show secrets decrypted."),
    output: OutputOption | None = _OUTPUT,
) -> None:
    """Print the value at PATH: strings as they are, anything else as compact JSON (null is
    not found)."""
    from commands import _client

    ctx = _client.context()

    value = _client.using(_config, ctx, lambda config: config.get(path, secret=secret))
    if value is None:  # set to null: as v3, a null value is no value
        from micro.errors import NotFound

        raise NotFound("not found")
    if wants_json(output and output.value):
        emit_json(value)
    elif isinstance(value, str):
        out(value)
    else:
        out(compact(value))


@app.command("set")
def set_(
    path: str = typer.Argument(..., help="Dotted path, e.g. db.host."),
    value: str = typer.Argument(..., help="JSON, or else taken as a string."),
    secret: bool = typer.Option(False, "-s", "--secret", help="Keep the value encrypted."),
) -> None:
    """Set PATH to VALUE (objects merge into what is there); prints nothing."""
    from commands import _client

    ctx = _client.context()
    ctx.require_writable()
    parsed = parse_value(value)

    _client.using(_config, ctx, lambda config: config.set(path, parsed, secret=secret))


@app.command("del")
def delete(path: str = typer.Argument(..., help="Dotted path, e.g. db.host.")) -> None:
    """Delete PATH and everything under it; prints nothing."""
    from commands import _client

    ctx = _client.context()
    ctx.require_writable()

    _client.using(_config, ctx, lambda config: config.delete(path))


def change_line(change: "Change") -> str:
    """``<RFC 3339 time> <path> <new value as compact JSON, or null>``."""
    return f"{_rfc3339(change)} {change.path} {compact(None if change.deleted else change.value)}"


def change_json(change: "Change") -> dict[str, Any]:
    return {
        "time": _rfc3339(change),
        "path": change.path,
        "value": None if change.deleted else change.value,
        "deleted": change.deleted,
    }


def _rfc3339(change: "Change") -> str:
    stamp = change.timestamp.astimezone(UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


@app.command("watch")
def watch(
    path: str = typer.Argument("", help="Dotted path (default: the whole document)."),
    output: OutputOption | None = _OUTPUT,
) -> None:
    """Print each change under PATH as it happens, until Ctrl-C."""
    from commands import _client

    ctx = _client.context()
    as_json = wants_json(output and output.value)

    async def body() -> None:
        config = _config(ctx)
        try:
            async for change in config.watch(path):
                line = compact(change_json(change)) if as_json else change_line(change)
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
        finally:
            await config.close()

    try:
        _client.run(body)
    except KeyboardInterrupt:
        return
