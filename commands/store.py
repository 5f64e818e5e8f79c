"""``micro store``: read, write, delete and list records; databases, tables, snapshots."""

import base64
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from commands._output import OutputOption, emit_json, out, output_option, table, wants_json

if TYPE_CHECKING:
    from micro.store import Order, Record

app = typer.Typer(help="Read and write records in the store.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="store")


class OrderOption(StrEnum):
    asc = "asc"
    desc = "desc"


_TABLE = typer.Option("", "-t", "--table", help="Table (default micro).")
_DATABASE = typer.Option("", "-d", "--database", help="Database (default: the namespace).")
# the wire's uint32 / uint64: a larger number is a usage error, not a failed call
_UINT32 = 2**32 - 1
_LIMIT = typer.Option(0, "-l", "--limit", min=0, max=_UINT32, help="At most N results (0 = all).")
_OFFSET = typer.Option(0, "-o", "--offset", min=0, max=_UINT32, help="Skip the first N results.")
_ORDER = typer.Option(OrderOption.asc, "--order", help="Key order.")
_OUTPUT = output_option()


def _order(option: OrderOption) -> "Order":
    from micro.store import Order

    return Order.DESC if option is OrderOption.desc else Order.ASC


def _utf8(what: str, text: str) -> bytes:
    """``text`` from the command line as UTF-8 (argv that was not UTF-8 is refused)."""
    from micro.errors import BadRequest

    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} is not valid UTF-8") from None


def value_json(record: "Record") -> dict[str, Any]:
    """A record as ``--output json`` prints it (proto3 JSON: int64 as strings)."""
    item: dict[str, Any] = {"key": record.key}
    try:
        item["value"] = record.value.decode("utf-8")
    except UnicodeDecodeError:
        item["value"] = base64.b64encode(record.value).decode("ascii")
        item["encoding"] = "base64"
    item["expiry"] = str(int(record.expiry or 0))
    item["metadata"] = dict(record.metadata)
    item["version"] = str(record.version)
    return item


@app.command("read")
def read(
    key: str = typer.Argument(..., help="Key (or prefix / suffix with -p / -s)."),
    prefix: bool = typer.Option(False, "-p", "--prefix", help="KEY matches as a prefix."),
    suffix: bool = typer.Option(False, "-s", "--suffix", help="KEY matches as a suffix."),
    limit: int = _LIMIT,
    offset: int = _OFFSET,
    order: OrderOption = _ORDER,
    table_: str = _TABLE,
    database: str = _DATABASE,
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Table of KEY VALUE EXPIRY."),
    output: OutputOption | None = _OUTPUT,
) -> None:
    """Print the value of KEY (or of every matching key), one per line."""
    from commands import _client
    from micro._duration import format_duration

    ctx = _client.context()
    _utf8("Key", key)

    records = _client.using(
        _client.store,
        ctx,
        lambda store: store.read(
            key,
            database=database,
            table=table_,
            prefix=prefix,
            suffix=suffix,
            limit=limit,
            offset=offset,
            order=_order(order),
        ),
    )
    if wants_json(output and output.value):
        emit_json([value_json(r) for r in records])
    elif verbose:
        rows = [
            [
                r.key,
                r.value.decode("utf-8", errors="replace"),
                format_duration(r.expiry) if r.expiry else "None",
            ]
            for r in records
        ]
        table(["KEY", "VALUE", "EXPIRY"], rows)
    else:
        sys.stdout.flush()
        for r in records:
            sys.stdout.buffer.write(r.value + b"\n")
        sys.stdout.buffer.flush()


@app.command("write")
def write(
    key: str = typer.Argument(..., help="Key."),
    value: list[str] = typer.Argument(..., help="Value: the remaining words joined by spaces."),
    expiry: str = typer.Option("", "-e", "--expiry", help="Time to live, e.g. 10s, 5m, 1h, 1d."),
    version: int | None = typer.Option(
        None,
        "--version",
        min=0,
        max=2**64 - 1,
        help="Write only if the record is at version N (0 = must not exist).",
    ),
    table_: str = _TABLE,
    database: str = _DATABASE,
    output: OutputOption | None = _OUTPUT,
) -> None:
    """Write a record; prints nothing (with --output json, the record's new version)."""
    from commands import _client
    from micro._duration import parse_duration
    from micro.errors import BadRequest
    from micro.store import Record

    ttl: float | None = None
    if expiry:
        try:
            ttl = parse_duration(expiry)
        except ValueError:
            raise BadRequest(f"Invalid expiry: {expiry}") from None
    if not key:
        raise BadRequest("Key cannot be empty")
    _utf8("Key", key)
    data = _utf8("Value", " ".join(value))
    ctx = _client.context()
    ctx.require_writable()

    written = _client.using(
        _client.store,
        ctx,
        lambda store: store.write(
            Record(key=key, value=data, expiry=ttl or None),
            database=database,
            table=table_,
            version=version,
        ),
    )
    if wants_json(output and output.value):  # the next --version of a compare-and-set loop
        emit_json({"key": key, "version": str(written)})


@app.command("delete")
def delete(
    key: str = typer.Argument(..., help="Key."), table_: str = _TABLE, database: str = _DATABASE
) -> None:
    """Delete a record; prints nothing."""
    from commands import _client
    from micro.errors import BadRequest

    if not key:
        raise BadRequest("Key cannot be empty")
    _utf8("Key", key)
    ctx = _client.context()
    ctx.require_writable()

    _client.using(_client.store, ctx, lambda store: store.delete(key, database=database, table=table_))


@app.command("list")
def list_(
    prefix: str = typer.Argument("", help="Only keys with this prefix."),
    prefix_switch: bool = typer.Option(False, "-p", "--prefix", help="Accepted for v3 scripts (no-op)."),
    limit: int = _LIMIT,
    offset: int = _OFFSET,
    order: OrderOption = _ORDER,
    table_: str = _TABLE,
    database: str = _DATABASE,
    output: OutputOption | None = _OUTPUT,
) -> None:
    """List keys, one per line."""
    from commands import _client

    _utf8("Prefix", prefix)
    ctx = _client.context()

    keys = _client.using(
        _client.store,
        ctx,
        lambda store: store.list(
            database=database,
            table=table_,
            prefix=prefix,
            limit=limit,
            offset=offset,
            order=_order(order),
        ),
    )
    _lines(keys, output)


@app.command("databases")
def databases(output: OutputOption | None = _OUTPUT) -> None:
    """Databases that hold records, one per line."""
    from commands import _client

    _lines(_client.using(_client.store, _client.context(), lambda store: store.databases()), output)


@app.command("tables")
def tables(database: str = _DATABASE, output: OutputOption | None = _OUTPUT) -> None:
    """Tables of the database that hold records, one per line."""
    from commands import _client

    _lines(_client.using(_client.store, _client.context(), lambda store: store.tables(database)), output)


def _lines(items: list[str], output: OutputOption | None) -> None:
    if wants_json(output and output.value):
        emit_json(items)
    else:
        for item in items:
            out(item)


@app.command("snapshot")
def snapshot(
    destination: str = typer.Option("-", "--destination", help="File to write (default stdout)."),
    database: str = _DATABASE,
) -> None:
    """Dump every record of the namespace (all tables, with expiry and metadata; not config)."""
    from commands import _client, _snapshot

    ctx = _client.context()
    _snapshot.snapshot(ctx, destination, database or ctx.namespace)


@app.command("restore")
def restore(
    source: str = typer.Option("-", "--source", help="Snapshot file to load (default stdin)."),
    database: str = _DATABASE,
) -> None:
    """Load a snapshot into the namespace's database."""
    from commands import _client, _snapshot

    ctx = _client.context()
    ctx.require_writable()
    _snapshot.restore(ctx, source, database or ctx.namespace)
