"""``micro broker``: ephemeral pub/sub — publish a message, subscribe to a topic."""

from __future__ import annotations

import base64
import json
import sys
from typing import TYPE_CHECKING, Any

import typer

from commands._output import Failure, OutputOption, out, output_option, wants_json

if TYPE_CHECKING:
    from micro.broker import Broker, Message
    from micro.environment import Context

app = typer.Typer(help="Publish and subscribe to ephemeral messages.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="broker")


_TOPIC = typer.Argument(..., help="Topic: 1-255 of A-Z a-z 0-9 _ . -")
_OUTPUT = output_option("-o", "--output")


def _broker(ctx: Context) -> Broker:
    from micro.broker.grpc import GrpcBroker

    return GrpcBroker(ctx.address, namespace=ctx.namespace, token=ctx.token)


def message_json(topic: str, message: Message) -> dict[str, Any]:
    """A received message as ``--output json`` prints it (one line each)."""
    item: dict[str, Any] = {"topic": topic, "header": dict(message.header)}
    try:
        item["body"] = message.body.decode("utf-8")
    except UnicodeDecodeError:
        item["body"] = base64.b64encode(message.body).decode("ascii")
        item["encoding"] = "base64"
    if message.dropped:
        item["dropped"] = message.dropped
    return item


def _text(body: bytes) -> str:
    """A body as one output line: line breaks escaped as in ``micro events`` lines, so a
    message never reads as two."""
    text = body.decode("utf-8", errors="replace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


@app.command("publish")
def publish(
    topic: str = _TOPIC,
    message: str = typer.Argument(..., help="The message body (text)."),
    header: list[str] | None = typer.Option(None, "--header", help="Header k=v (repeatable)."),
    output: OutputOption | None = _OUTPUT,
) -> None:
    """Publish MESSAGE to the subscribers of TOPIC connected now (nothing is stored)."""
    from commands import _client
    from commands.call import parse_metadata
    from micro.broker import Message

    headers = parse_metadata(header)
    try:
        body = message.encode("utf-8")
    except UnicodeEncodeError:
        raise Failure("message is not valid UTF-8") from None
    ctx = _client.context()
    ctx.require_writable()

    async def use(broker: Broker) -> Any:
        return await broker.publish(topic, Message(body=body, header=headers))

    delivery = _client.using(_broker, ctx, use)
    if wants_json(output and output.value):
        out(json.dumps({"delivered": delivery.delivered, "dropped": delivery.dropped}))
    elif delivery.dropped:
        sys.stderr.write(f"dropped for {delivery.dropped} slow subscriber(s)\n")


@app.command("subscribe")
def subscribe(
    topic: str = _TOPIC,
    queue: str = typer.Option("", "--queue", help="Join queue group Q: each message reaches one member."),
    output: OutputOption | None = _OUTPUT,
) -> None:
    """Print each message published to TOPIC from now on, one per line, until Ctrl-C."""
    from commands import _client

    ctx = _client.context()
    if queue and ctx.env.read_only:
        # a queue member takes messages away from the group's other members
        raise Failure(f"Environment '{ctx.env.name}' is read-only: subscribe without --queue")
    as_json = wants_json(output and output.value)

    async def body() -> None:
        import asyncio

        from micro import _platform
        from micro._grpc import hung

        broker = _broker(ctx)
        try:
            # the server confirms a subscription at once: one that does not is exit 4, not a hang
            seconds = _platform.call_deadline(10.0)
            try:
                subscription = await asyncio.wait_for(broker.subscribe(topic, queue=queue), seconds)
            except TimeoutError:
                raise hung(ctx.address, seconds) from None
            async with subscription as messages:
                async for message in messages:
                    if message.dropped:
                        note = f"dropped {message.dropped} message(s): this subscriber fell behind"
                        sys.stderr.write(note + "\n")
                    if as_json:
                        line = json.dumps(message_json(topic, message), ensure_ascii=False)
                    else:
                        line = _text(message.body)
                    sys.stdout.write(line + "\n")
                    sys.stdout.flush()
        finally:
            await broker.close()

    try:
        _client.run(body)
    except KeyboardInterrupt:
        return
