"""``micro run``, ``update``, ``kill``, ``status`` and ``logs``: services run by the server.

A local folder is checked and packed here (:mod:`micro.runtime.source`, as the workspace
does it) and streamed to the server with ``Source.Upload``: the server never reads this
machine's files, so the commands work the same against a server elsewhere. A git source is
cloned by the server as the first step of the build (a clone can take longer than a call's
deadline); ``micro run`` of one returns once the clone is stored, so a repository or ref
that does not exist is still its one-line failure. The credentials of an https source
(``micro user config set git.credentials.<host>``, kept in the keyring, or a URL's
``user:password@``) go to the server in the request's secrets, for that clone only: never
in the source the server records, on a command line, in status or in logs.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from commands._output import Failure, OutputOption, emit_json, err, output_option, table, wants_json

if TYPE_CHECKING:
    from micro.environment import Context
    from micro.runtime import LogRecord, Service
    from micro.runtime.grpc import GrpcRuntime

WAIT_SECONDS = 600.0


def register(root: typer.Typer) -> None:
    root.command("run", help="Run a service from a folder: built, started and supervised by the server.")(run)
    root.command("update", help="Rebuild a service from its (re-read) source and restart it.")(update)
    root.command("kill", help="Stop a service run by the server; its logs stay.")(kill)
    root.command("status", help="Status of the services run by the server.")(status)
    root.command("logs", help="Print the logs of a service run by the server.")(logs)


def _runtime(ctx: Context) -> GrpcRuntime:
    from micro.runtime.grpc import GrpcRuntime

    return GrpcRuntime(ctx.address, namespace=ctx.namespace, token=ctx.token)


def _progress(text: str) -> None:
    if sys.stderr.isatty():
        err(text)


def _env_vars(text: str) -> list[str]:
    pairs = [p.strip() for p in text.split(",") if p.strip()] if text else []
    for pair in pairs:
        key, sep, _ = pair.partition("=")
        if not sep or not key:
            raise Failure(f"Invalid --env-vars {pair!r}: expected KEY=VALUE,KEY2=VALUE2")
    return pairs


def _check_instances(instances: int | None) -> None:
    if instances is not None and instances < 1:
        raise Failure(f"Invalid --instances {instances}: must be at least 1")


def _name(given: str, default: str) -> str:
    """The service's name: ``--name``, else ``default`` (its folder's or repository's name,
    which the refusal says, with the way round it)."""
    from micro import errors
    from micro.runtime import check_name

    try:
        return check_name(given or default)
    except errors.BadRequest as exc:
        hint = "" if given else " (the folder's name: give another with --name)"
        raise Failure(exc.detail[:1].upper() + exc.detail[1:] + hint) from None


def _describe(folder: Path) -> str:
    return str(folder.resolve())


def _words(option: str, text: str) -> list[str]:
    """``--command``/``--args`` split as a shell would (quotes kept together)."""
    import shlex

    try:
        return shlex.split(text)
    except ValueError as exc:
        raise Failure(f"Invalid {option} {text!r}: {exc}") from None


def run(
    source: str = typer.Argument(
        ..., help="A folder (., ./helloworld, ../x), a git URL[/sub][@ref] or a name under git.baseurl."
    ),
    name: str = typer.Option("", "--name", help="The service's name (default: the folder's)."),
    instances: int = typer.Option(1, "--instances", help="How many processes to run."),
    env_vars: str = typer.Option("", "--env-vars", help="Environment of the service: K=V,K2=V2."),
    command: str = typer.Option(
        "", "--command", help="Run this instead of the entry point (its python is the service's venv)."
    ),
    args: str = typer.Option("", "--args", help="Arguments after the entry point or --command."),
    wait: bool = typer.Option(False, "--wait", help="Return once it runs (exit 1 with the reason on error)."),
) -> None:
    """Run a service from a folder or git: built, started and supervised by the server."""
    from commands import _client
    from micro.runtime import Service
    from micro.runtime import source as sources

    _check_instances(instances)
    env = _env_vars(env_vars)
    start = _Start(env, instances, _words("--command", command), _words("--args", args), wait)
    folder = sources.locate(source, baseurl=_baseurl)
    if isinstance(folder, str):
        return _run_git(folder, name, start)
    service_name = _name(name, folder.resolve().name)
    if not start.command:
        sources.check_runnable(folder)
    ctx = _client.context()
    ctx.require_writable()

    _progress(f"packing {folder}")
    packed = sources.pack(folder)
    _progress(f"uploading {packed.files} files ({len(packed.data) / 1024:.0f} KiB)")

    async def body() -> None:
        started = time.time()
        runtime = _runtime(ctx)
        try:
            upload = await runtime.upload(service_name, sources.chunks(packed.data))
            await runtime.create(
                Service(name=service_name, source=_describe(folder)),
                upload=upload,
                subfolder=packed.subfolder,
                env=env,
                instances=instances,
                command=start.command,
                args=start.args,
            )
            if wait:
                await _wait(runtime, service_name, started)
        finally:
            await runtime.close()

    _client.run(body)


def _baseurl() -> str:
    """``micro user config set git.baseurl``: where bare names are looked up ("" for none)."""
    from commands.user import _settings

    _, user = _settings()
    return str(user.get("git.baseurl", "") or "")


@dataclass(frozen=True)
class _Start:
    """How ``micro run`` starts the service, whatever its source."""

    env: list[str]
    instances: int
    command: list[str]
    args: list[str]
    wait: bool


def git_secrets(source: str) -> tuple[str, dict[str, str]]:
    """``source`` without the ``user:password@`` of its URL, and the clone's secrets: that
    user and password, else the stored ``git.credentials.<host>:<port>``,
    ``git.credentials.<host>`` or ``git.credentials`` (https and http sources only)."""
    from urllib.parse import urlsplit

    from micro.runtime.source import split_credentials

    bare, given = split_credentials(source)
    if given:
        return bare, {"git.username": given.username, "git.password": given.password}
    try:
        url = urlsplit(bare)
        host, port = url.hostname, url.port
    except ValueError:
        return bare, {}
    if url.scheme not in ("http", "https") or not host:
        return bare, {}
    from commands.user import GIT_CREDENTIALS
    from micro import credentials

    keys = [f"{GIT_CREDENTIALS}.{host}:{port}"] if port else []
    for key in (*keys, f"{GIT_CREDENTIALS}.{host}", GIT_CREDENTIALS):
        found = credentials.load_secret(key)
        if found:
            user, sep, secret = found.partition(":")
            return bare, {"git.username": user if sep else "git", "git.password": secret if sep else found}
    return bare, {}


def _run_git(source: str, name: str, start: _Start) -> None:
    """``micro run`` of a git source: the server clones it as the build's first step; this
    returns once the clone is stored (or fails with git's reason, leaving nothing behind)."""
    from commands import _client
    from micro.runtime import Service
    from micro.runtime.source import git_name

    service_name = _name(name, git_name(source))
    ctx = _client.context()
    ctx.require_writable()
    bare, secrets = git_secrets(source)
    _progress(f"cloning {bare} on the server")

    async def body() -> None:
        started = time.time()
        runtime = _runtime(ctx)
        try:
            await runtime.create(
                Service(name=service_name, source=bare),
                env=start.env,
                instances=start.instances,
                command=start.command,
                args=start.args,
                secrets=secrets,
            )
            try:
                await _cloned(runtime, service_name)
            except Failure:
                # the run failed: nothing of it stays (its account, its status row)
                from micro import errors

                with contextlib.suppress(errors.MicroError):
                    await runtime.delete(service_name)
                raise
            if start.wait:
                await _wait(runtime, service_name, started)
        finally:
            await runtime.close()

    _client.run(body)


async def _cloned(runtime: GrpcRuntime, name: str, *, seconds: float = WAIT_SECONDS) -> None:
    """Until the server stored the clone of ``name``'s git source (its build has a content
    hash), or Failure with git's reason (one line)."""
    import asyncio

    deadline, delay = time.monotonic() + seconds, 0.05
    while True:
        found = await runtime.read(name)
        service = found[0] if found else None
        if service is None or service.build or service.status in ("starting", "running"):
            return
        if service.status == "error":
            reason = service.error or "the clone failed"
            raise Failure(reason[:1].upper() + reason[1:])
        if time.monotonic() > deadline:
            raise Failure(f"{name}: the clone did not finish within {seconds:.0f}s")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)


async def _wait(runtime: GrpcRuntime, name: str, since: float, *, seconds: float = WAIT_SECONDS) -> None:
    """Until ``name`` runs (or fails: Failure with the reason). Its status is read again as
    soon as the runtime writes a line about it (an instance started, running, an error),
    and at growing intervals besides; on a terminal, those lines are shown as they come."""
    import asyncio
    import contextlib

    deadline = time.monotonic() + seconds
    woken = asyncio.Event()
    follower = asyncio.create_task(_follow_runtime(runtime, name, since, woken))
    try:
        await _poll(runtime, name, deadline, seconds, woken)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await follower


async def _follow_runtime(runtime: GrpcRuntime, name: str, since: float, woken: Any) -> None:
    """The runtime's own lines about ``name`` since ``since`` (creating the venv, installing
    requirements, instances started, running): each wakes the status check; on a terminal
    they go to stderr."""
    shown = sys.stderr.isatty()
    async for batch in runtime.logs(name, count=-1, follow=True, since=since):
        for record in batch.records:
            # the server's bound is whole seconds: the lines before ``since`` are left out here
            if record.stream == "runtime" and record.ts >= since * 1e9:
                woken.set()
                if shown:
                    err(record.line)


async def _poll(runtime: GrpcRuntime, name: str, deadline: float, seconds: float, woken: Any) -> None:
    import asyncio
    import contextlib

    delay, shown = 0.05, ""
    while True:
        woken.clear()
        found = await runtime.read(name)
        service = found[0] if found else None
        if service is not None:
            if service.status != shown:
                _progress(service.status)
                shown = service.status
            if service.status == "running":
                return
            if service.status == "error":
                raise Failure(f"{name} failed: {service.error}")
        if time.monotonic() > deadline:
            raise Failure(f"{name} is not running after {seconds:.0f}s (status {shown or 'unknown'})")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await woken.wait()
        delay = min(delay * 1.5, 1.0)


def update(
    source: str = typer.Argument(
        ..., help="The service's folder, or its name (rebuilds the recorded source)."
    ),
    name: str = typer.Option("", "--name", help="The service's name (default: the folder's)."),
    instances: int | None = typer.Option(None, "--instances", help="How many processes to run from now on."),
    env_vars: str | None = typer.Option(None, "--env-vars", help="Replace the environment: K=V,K2=V2."),
    wait: bool = typer.Option(False, "--wait", help="Return once it runs again."),
) -> None:
    """Rebuild a service from its (re-read) source and restart it."""
    from commands import _client
    from micro.runtime import source as sources

    _check_instances(instances)
    env = _env_vars(env_vars) if env_vars is not None else None
    folder = Path(source).expanduser()
    is_folder = folder.is_dir()
    if not is_folder and ("/" in source or source.startswith((".", "~"))):
        raise Failure(f"Source folder {source} does not exist")  # a path, not a name
    if is_folder:
        service_name = _name(name, folder.resolve().name)
    else:  # a service's name (rebuilt from its recorded source)
        service_name = _name(name or source.split("@", 1)[0], "")
    ctx = _client.context()
    ctx.require_writable()
    packed = None
    if is_folder:
        sources.check_runnable(folder)
        _progress(f"packing {folder}")
        packed = sources.pack(folder)

    async def body() -> None:
        started = time.time()
        runtime = _runtime(ctx)
        try:
            upload = ""
            secrets: dict[str, str] = {}
            if packed is not None:
                upload = await runtime.upload(service_name, sources.chunks(packed.data))
            else:  # rebuilt from the recorded source: a git one is cloned again, maybe privately
                from micro import errors

                with contextlib.suppress(errors.NotFound):
                    for found in await runtime.read(service_name):
                        secrets = git_secrets(found.source)[1]
            updated = await runtime.update(
                service_name,
                upload=upload,
                subfolder=packed.subfolder if packed is not None else "",
                instances=instances or 0,
                env=env,
                secrets=secrets,
            )
            if not updated.build:  # a git source being cloned again: its reason if that fails
                await _cloned(runtime, service_name)
            if wait:
                await _wait(runtime, service_name, started)
        finally:
            await runtime.close()

    _client.run(body)


def kill(name: str = typer.Argument(..., help="NAME or NAME@version.")) -> None:
    """Stop a service run by the server, deregister it; its logs stay."""
    from commands import _client

    service_name, _, version = name.partition("@")
    ctx = _client.context()
    ctx.require_writable()

    async def stop(runtime: GrpcRuntime) -> None:
        if version:  # NAME@version kills that version only, never the one that runs instead
            await _versioned(runtime, service_name, version)
        await runtime.delete(service_name)

    _client.using(_runtime, ctx, stop)


async def _versioned(runtime: GrpcRuntime, name: str, version: str) -> list[Service]:
    """``name`` at ``version``, else Failure ``Service NAME@VERSION not found``."""
    found = [s for s in await runtime.read(name) if s.version == version]
    if not found:
        raise Failure(f"Service {name}@{version} not found")
    return found


def _ago(updated: int) -> str:
    if not updated:
        return "n/a"
    from micro._duration import format_duration

    return f"{format_duration(max(0, time.time() - updated))} ago"


def _metadata(service: Service) -> str:
    parts = [f"owner={service.metadata.get('owner') or 'n/a'}", f"group={service.metadata.get('group', '')}"]
    if service.retries:
        parts.append(f"retries={service.retries}")
    if service.error:
        parts.append(f"error={service.error}")
    return ", ".join(parts)


def status(
    name: str = typer.Argument("", help="Only this service."),
    output: OutputOption | None = output_option("-o", "--output"),
) -> None:
    """Status of the services run by the server: NAME VERSION SOURCE STATUS BUILD UPDATED METADATA."""
    from commands import _client

    ctx = _client.context()
    service_name, _, version = name.partition("@")

    async def read(runtime: GrpcRuntime) -> list[Service]:
        if version:
            return await _versioned(runtime, service_name, version)
        return await runtime.read(service_name)

    found = _client.using(_runtime, ctx, read)
    if wants_json(output and output.value):
        emit_json(
            [
                {
                    "name": s.name,
                    "version": s.version,
                    "source": s.source,
                    "status": s.status,
                    "build": s.build,
                    "updated": s.updated,
                    "instances": s.instances,
                    "retries": s.retries,
                    "error": s.error,
                    "metadata": s.metadata,
                }
                for s in found
            ]
        )
        return
    rows = [
        [s.name, s.version, s.source, s.status, s.build or "n/a", _ago(s.updated), _metadata(s)]
        for s in sorted(found, key=lambda s: (s.name, s.version))
    ]
    table(["NAME", "VERSION", "SOURCE", "STATUS", "BUILD", "UPDATED", "METADATA"], rows)


def _compact(value: Any) -> str:
    """One NDJSON record: compact, as every streaming command's ``--output json`` prints it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _line(record: LogRecord, *, as_json: bool, timestamps: bool) -> str:
    if not (as_json or timestamps):  # the common case, on the follow's path: no clock work
        return record.line
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(record.ts / 1e9, UTC)
    ts = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{record.ts % 1_000_000_000:09d}Z"
    if as_json:
        return _compact({"ts": ts, "stream": record.stream, "instance": record.instance, "line": record.line})
    return f"{ts} {record.line}" if timestamps else record.line


def logs(
    name: str = typer.Argument(..., help="The service."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Print new lines as they are written."),
    lines: int = typer.Option(15, "-n", "--lines", help="How many of the last lines (-1: all, 0: none)."),
    since: str = typer.Option("", "--since", help="Only lines of the last DURATION (5m, 1h)."),
    timestamps: bool = typer.Option(False, "--timestamps", help="Prefix each line with its RFC 3339 time."),
    output: OutputOption | None = output_option("-o", "--output"),
) -> None:
    """Print the last lines of a service's logs (-f: then follow them)."""
    from commands import _client

    if lines < -1:
        raise Failure(f"Invalid --lines {lines}: a number of lines, or -1 for all")
    since_unix = 0.0
    if since:
        from micro._duration import parse_duration

        try:
            since_unix = time.time() - parse_duration(since)
        except ValueError:
            raise Failure(f"Invalid --since {since!r}: expected a duration such as 5m") from None
    as_json = wants_json(output and output.value)
    ctx = _client.context()
    # -n 0: no earlier line, only new ones (as tail -n 0); the server sends at least one
    newer = time.time_ns() if lines == 0 else 0

    def body() -> None:
        # a blocking stream on a synchronous channel whose streams are polled on the reading
        # thread: each batch is printed as grpc hands it over, with no hop through an event
        # loop or grpc's channel thread (the follow latency is the point). That poll does not
        # wake for signals, so a worker thread reads and prints while this one waits, where
        # Ctrl-C lands, and cancels the call.
        import threading

        from micro import _platform, errors
        from micro._grpc import call_metadata, rpc_errors, sync_channel
        from micro.proto.runtime import runtime_pb2, runtime_pb2_grpc
        from micro.runtime._convert import batch_from_proto

        request = runtime_pb2.LogsRequest(
            service=name.split("@", 1)[0],
            count=lines if lines else 1,
            stream=follow,
            since=int(max(since_unix, newer / 1e9)),
            options=runtime_pb2.LogsOptions(),
        )
        metadata = call_metadata(namespace=ctx.namespace, token=ctx.token, service="runtime")
        timeout = None if follow else _platform.call_deadline(10.0)
        try:
            with (
                sync_channel(ctx.address) as channel,
                rpc_errors(ctx.address, channel=channel, timeout=timeout),
            ):
                call = runtime_pb2_grpc.RuntimeStub(channel).Logs(request, metadata=metadata, timeout=timeout)
                failed: list[BaseException] = []

                def pump() -> None:
                    try:
                        for pb in call:
                            batch = batch_from_proto(pb)
                            if batch.dropped:
                                if as_json:
                                    sys.stdout.write(_compact({"dropped": batch.dropped}) + "\n")
                                else:
                                    err(f"dropped: {batch.dropped} lines (this follower fell behind)")
                            text = "".join(
                                _line(r, as_json=as_json, timestamps=timestamps) + "\n"
                                for r in batch.records
                                if r.ts >= newer
                            )
                            sys.stdout.write(text)
                            sys.stdout.flush()
                    except BaseException as exc:  # handed to the waiting thread
                        failed.append(exc)

                reader = threading.Thread(target=pump, name="logs", daemon=True)
                reader.start()
                try:
                    while reader.is_alive():
                        reader.join(0.5)
                finally:
                    if reader.is_alive():  # Ctrl-C: end the stream, then the reader
                        call.cancel()
                        reader.join(5)
                if failed:
                    raise failed[0]
        except errors.NotFound:
            raise Failure("Service not found") from None

    try:
        _client.run_sync(body)
    except KeyboardInterrupt:
        return
