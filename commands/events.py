"""``micro events``: publish, consume and read persistent event streams; topics, groups,
retention.

Events print one per line: ``<offset> <RFC 3339 time> <id> <k=v,…> <payload as compact
JSON>`` (``-`` for no metadata; a payload that is not JSON prints as a JSON string);
``-o json`` prints NDJSON records instead, for every command here.
"""

import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from commands._output import OutputOption, confirm, output_option, table, wants_json

if TYPE_CHECKING:
    from micro.environment import Context
    from micro.events import Event, Retention
    from micro.events.grpc import GrpcStream

app = typer.Typer(help="Publish, consume and read persistent event streams.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="events")


_OUTPUT = output_option("-o", "--output")
_UINT64 = 2**64 - 1
_OFFSET = typer.Option(None, "--offset", min=0, max=_UINT64, help="Start at this offset (absolute, from 0).")
_GROUP = typer.Option("", "-g", "--group", help="Consumer group: its members share the events.")


def _stream(ctx: "Context") -> "GrpcStream":
    from micro.events.grpc import GrpcStream

    return GrpcStream(ctx.address, namespace=ctx.namespace, token=ctx.token)


def _rfc3339(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _strict_json(text: str) -> Any:
    """``text`` as JSON, refusing what Python's parser lets through but JSON has not:
    ``NaN``, ``Infinity`` and numbers too large for a float (``1e999``), which would be
    stored or printed as ``Infinity`` — not JSON, so an NDJSON reader would choke."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    def number(literal: str) -> float:
        value = float(literal)
        if value in (float("inf"), float("-inf")):
            raise ValueError(f"{literal} is out of range for a JSON number")
        return value

    return json.loads(text, parse_constant=refuse, parse_float=number)


def _payload(event: "Event") -> tuple[Any, str]:
    """The payload as a JSON value and its encoding: ``json``, else ``text``, else ``base64``."""
    try:
        text = event.payload.decode("utf-8")
    except UnicodeDecodeError:
        import base64

        return base64.b64encode(event.payload).decode("ascii"), "base64"
    try:
        return _strict_json(text), "json"
    except (ValueError, RecursionError):
        return text, "text"


def _escape(text: str) -> str:
    """A metadata key or value inside the line's ``k=v,…`` field: a space, comma, equals sign,
    percent sign or unprintable character is percent-encoded (its UTF-8 bytes), so the field
    stays one word and splits back into the pairs (``note=hello world`` would split the line)."""
    if text.isprintable() and not any(c in " ,=%" for c in text):
        return text
    return "".join(
        c if c.isprintable() and c not in " ,=%" else "".join(f"%{b:02X}" for b in c.encode()) for c in text
    )


def event_line(event: "Event") -> str:
    """One event in the spec's line format."""
    pairs = sorted(event.metadata.items())
    metadata = ",".join(f"{_escape(k)}={_escape(v)}" for k, v in pairs) or "-"
    value, _ = _payload(event)
    line = f"{event.offset} {_rfc3339(event.timestamp)} {event.id} {metadata} {_compact(value)}"
    return line.replace("\n", "\\n").replace("\r", "\\r")


def event_json(event: "Event") -> dict[str, Any]:
    """One event as an NDJSON record."""
    value, encoding = _payload(event)
    record: dict[str, Any] = {
        "offset": event.offset,
        "timestamp": _rfc3339(event.timestamp),
        "id": event.id,
        "topic": event.topic,
        "metadata": dict(event.metadata),
        "payload": value,
    }
    if encoding != "json":
        record["encoding"] = encoding
    if event.attempt != 1:
        record["attempt"] = event.attempt
    return record


def _emit(event: "Event", as_json: bool) -> None:
    sys.stdout.write((_compact(event_json(event)) if as_json else event_line(event)) + "\n")


def _ndjson(records: list[dict[str, Any]]) -> None:
    for record in records:
        sys.stdout.write(_compact(record) + "\n")


def _metadata(pairs: list[str]) -> dict[str, str]:
    from micro.errors import BadRequest

    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadRequest(f"Invalid metadata {pair!r}: expected key=value")
        found[key] = value
    return found


def _json_payload(text: str) -> bytes:
    """The JSON argument as compact JSON; anything else is the spec's one-line error."""
    from micro.errors import BadRequest

    try:
        value = _strict_json(text)
    except ValueError as exc:
        raise BadRequest(f"Error creating request: invalid JSON payload: {exc}") from None
    except RecursionError:
        raise BadRequest("Error creating request: the JSON payload is nested too deeply") from None
    return _compact(value).encode()


def _since(text: str) -> float:
    """``--since``: a duration ago (``10m``) or an RFC 3339 time."""
    import time

    from micro._duration import parse_duration
    from micro.errors import BadRequest

    try:
        return time.time() - parse_duration(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"Invalid --since {text!r}: expected a duration such as 10m or an RFC 3339 time"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


@app.command("publish")
def publish(
    topic: str = typer.Argument(..., help="Topic ([A-Za-z0-9_.-], up to 255)."),
    payload: str | None = typer.Argument(None, help="The event as JSON (default: stdin)."),
    metadata: list[str] = typer.Option([], "-m", "--metadata", help="key=value, repeatable."),
) -> None:
    """Publish an event; prints its id."""
    from commands import _client
    from micro.errors import BadRequest
    from micro.events import check_topic

    check_topic(topic)
    meta = _metadata(metadata)
    if payload is None:
        if sys.stdin.isatty():
            raise BadRequest("Error creating request: give the event as JSON (or on stdin)")
        payload = sys.stdin.read()
    data = _json_payload(payload)
    ctx = _client.context()
    ctx.require_writable()
    event = _client.using(_stream, ctx, lambda s: s.publish(topic, data, metadata=meta))
    sys.stdout.write(event.id + "\n")


@app.command("consume")
def consume(
    topic: str = typer.Argument(..., help="Topic."),
    group: str = _GROUP,
    offset: int | None = _OFFSET,
    since: str = typer.Option("", "--since", help="Start at the first event at or after: 10m, or a time."),
    from_start: bool = typer.Option(False, "--from-start", help="Start at the first stored event."),
    manual_ack: bool = typer.Option(False, "--manual-ack", help="Ack each event after its line is written."),
    output: OutputOption | None = _OUTPUT,
) -> None:
    """Print each event as it arrives, until Ctrl-C. Without a group and a start: new events only."""
    from commands import _client
    from micro.errors import BadRequest
    from micro.events import check_group, check_topic

    check_topic(topic)
    check_group(group)
    if sum((offset is not None, bool(since), from_start)) > 1:
        raise BadRequest("Give at most one of --offset, --since and --from-start")
    start = _since(since) if since else None
    ctx = _client.context()
    if group or manual_ack:  # they move a group's position: not in a read-only environment
        ctx.require_writable()
    as_json = wants_json(output and output.value)

    async def body() -> None:
        import asyncio

        from micro import _platform
        from micro._grpc import hung

        stream = _stream(ctx)
        try:
            # the stream itself has no deadline, but the server confirms the subscription at
            # once: one that does not (stopped, not a gRPC server) is exit 4, not a silent hang
            seconds = _platform.call_deadline(10.0)
            try:
                sub = await asyncio.wait_for(
                    stream.consume(
                        topic,
                        group=group,
                        offset=offset,
                        since=start,
                        from_start=from_start,
                        manual_ack=manual_ack,
                    ),
                    seconds,
                )
            except TimeoutError:
                raise hung(ctx.address, seconds) from None
            try:
                async for event in sub:
                    _emit(event, as_json)
                    sys.stdout.flush()
                    await sub.ack(event)
            finally:
                await sub.close()
        finally:
            await stream.close()

    try:
        _client.run(body)
    except KeyboardInterrupt:
        return


@app.command("read")
def read(
    topic: str = typer.Argument(..., help="Topic."),
    limit: int = typer.Option(0, "-l", "--limit", min=0, max=10_000, help="At most N events (0 = 100)."),
    offset: int = typer.Option(
        0, "--offset", min=0, max=_UINT64, help="From this offset (absolute, from 0)."
    ),
    output: OutputOption | None = _OUTPUT,
) -> None:
    """Stored events from an offset, oldest first."""
    from commands import _client
    from micro.events import DEFAULT_READ_LIMIT, check_topic

    check_topic(topic)
    ctx = _client.context()
    as_json = wants_json(output and output.value)
    wanted = limit or DEFAULT_READ_LIMIT

    async def pages(stream: "GrpcStream") -> None:
        # one reply holds a few MiB of payload at most: ask again from where it stopped
        # until the limit is reached or nothing more is stored (printing page by page)
        at, printed = offset, 0
        while printed < wanted:
            page = await stream.read(topic, offset=at, limit=wanted - printed)
            if not page:
                return
            for event in page:
                _emit(event, as_json)
            printed += len(page)
            at = page[-1].offset + 1

    _client.using(_stream, ctx, pages)


def _retention_text(retention: "Retention") -> str:
    from micro._duration import format_duration

    parts = []
    if retention.max_age is not None:
        parts.append(f"age {format_duration(retention.max_age)}")
    if retention.max_count is not None:
        parts.append(f"count {retention.max_count}")
    if retention.max_bytes is not None:
        parts.append(f"bytes {retention.max_bytes}")
    return ", ".join(parts) or "-"


def _retention_json(retention: "Retention") -> dict[str, Any]:
    raw = {"max_age": retention.max_age, "max_count": retention.max_count, "max_bytes": retention.max_bytes}
    return {k: v for k, v in raw.items() if v is not None}


@app.command("topics")
def topics(output: OutputOption | None = _OUTPUT) -> None:
    """Topics of the namespace: TOPIC EVENTS FIRST LAST RETENTION."""
    from commands import _client

    found = _client.using(_stream, _client.context(), lambda s: s.topics())
    if wants_json(output and output.value):
        _ndjson(
            [
                {
                    "topic": t.name,
                    "events": t.events,
                    "first": t.first,
                    "last": t.last,
                    "retention": _retention_json(t.retention),
                }
                for t in found
            ]
        )
        return
    rows = [
        [
            t.name,
            str(t.events),
            str(t.first),
            "-" if t.last is None else str(t.last),
            _retention_text(t.retention),
        ]
        for t in found
    ]
    table(["TOPIC", "EVENTS", "FIRST", "LAST", "RETENTION"], rows)


@app.command("groups")
def groups(
    topic: str = typer.Argument(..., help="Topic."),
    reset: str = typer.Option("", "--reset", help="Move this group (with --offset or --since)."),
    offset: int | None = _OFFSET,
    since: str = typer.Option("", "--since", help="With --reset: to the first event at or after this."),
    output: OutputOption | None = _OUTPUT,
) -> None:
    """Consumer groups of a topic: GROUP POSITION LAG CONSUMERS PENDING."""
    from commands import _client
    from micro.errors import BadRequest
    from micro.events import check_group, check_topic

    check_topic(topic)
    ctx = _client.context()
    if reset:
        check_group(reset)
        if (offset is None) == (not since):
            raise BadRequest("--reset needs one of --offset and --since")
        ctx.require_writable()
        start = _since(since) if since else None
        position = _client.using(
            _stream, ctx, lambda s: s.reset_group(topic, reset, offset=offset, since=start)
        )
        sys.stdout.write(f"{reset} {position}\n")
        return
    if offset is not None or since:
        raise BadRequest("--offset and --since move a group: give --reset GROUP")
    found = _client.using(_stream, ctx, lambda s: s.groups(topic))
    if wants_json(output and output.value):
        _ndjson(
            [
                {
                    "group": g.name,
                    "position": g.position,
                    "lag": g.lag,
                    "consumers": g.consumers,
                    "pending": g.pending,
                }
                for g in found
            ]
        )
        return
    rows = [[g.name, str(g.position), str(g.lag), str(g.consumers), str(g.pending)] for g in found]
    table(["GROUP", "POSITION", "LAG", "CONSUMERS", "PENDING"], rows)


@app.command("retention")
def retention(
    topic: str = typer.Argument(..., help="Topic."),
    max_age: str = typer.Option("", "--max-age", help="Drop events older than this: 7d, 12h."),
    max_count: int | None = typer.Option(
        None, "--max-count", min=1, max=_UINT64, help="Keep at most N events."
    ),
    max_bytes: int | None = typer.Option(
        None, "--max-bytes", min=1, max=_UINT64, help="Keep at most N payload bytes."
    ),
    clear: bool = typer.Option(False, "--clear", help="Keep every event."),
) -> None:
    """Set how long a topic keeps its events (the limits given; the others stay), applied at
    once and then in the background; without options, print the current retention."""
    import dataclasses

    from commands import _client
    from micro._duration import parse_duration
    from micro.errors import BadRequest
    from micro.events import Retention, check_topic

    check_topic(topic)
    ctx = _client.context()
    if not (max_age or max_count or max_bytes or clear):
        found = _client.using(_stream, ctx, lambda s: s.topics())
        match = next((t for t in found if t.name == topic), None)
        if match is None:
            raise BadRequest(f"Topic {topic} not found")
        sys.stdout.write(_retention_text(match.retention) + "\n")
        return
    if clear and (max_age or max_count or max_bytes):
        raise BadRequest("--clear takes no other option")
    age: float | None = None
    if max_age:
        try:
            age = parse_duration(max_age)
        except ValueError:
            raise BadRequest(f"Invalid --max-age {max_age!r}: expected a duration such as 7d") from None
        if age <= 0:
            raise BadRequest("--max-age must be positive")
    ctx.require_writable()

    async def apply(stream: Any) -> None:
        # the limits given change, the others stay (--clear drops them all)
        wanted = Retention()
        if not clear:
            found = next((t for t in await stream.topics() if t.name == topic), None)
            wanted = found.retention if found is not None else Retention()
            if age is not None:
                wanted = dataclasses.replace(wanted, max_age=age)
            if max_count is not None:
                wanted = dataclasses.replace(wanted, max_count=max_count)
            if max_bytes is not None:
                wanted = dataclasses.replace(wanted, max_bytes=max_bytes)
        await stream.set_retention(topic, wanted)

    _client.using(_stream, ctx, apply)


@app.command("delete")
def delete(
    topic: str = typer.Argument(..., help="Topic."),
    yes: bool = typer.Option(False, "-y", "--yes", help="Do not ask."),
) -> None:
    """Remove a topic, its events and its groups."""
    from commands import _client
    from micro.events import check_topic

    check_topic(topic)
    ctx = _client.context()
    ctx.require_writable()
    if not yes:
        confirm(
            f"Delete topic {topic} with all its events and groups?",
            refuse=f"Refusing to delete topic {topic} without a terminal: pass --yes",
        )
    _client.using(_stream, ctx, lambda s: s.delete(topic))
