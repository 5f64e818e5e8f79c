"""Dynamic "service as a command": ``micro helloworld call --name John``.

When the first word is not a builtin (nor ``micro-<word>`` on PATH), the word is looked up in
the registry (the current namespace, then ``micro``; cached schemas first). The following
words name the endpoint as in v3 (none → ``<Service>.Call``, one → ``<Service>.<Word>``, two →
``<Word1>.<Word2>``; kebab-case or v3's camelCase) and the flags become request fields
through the registered schema (:mod:`commands._flags`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

from typer import _click
from typer.core import TyperCommand

from commands._flags import FlagError, flag_specs, flags_to_request
from commands._output import Failure, globals_, out, wants_json

if TYPE_CHECKING:
    from micro.client.dynamic import Method, Schema, Schemas
    from micro.environment import Context
    from micro.registry import Endpoint

__all__ = ["ServiceCommand", "camel", "command_for", "endpoint_words", "kebab", "resolve_endpoint"]

_HELP = ("--help", "-h")


def camel(word: str) -> str:
    """``ping-pong`` / ``pingPong`` / ``ping_pong`` → ``PingPong``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", word) if part)


def kebab(name: str) -> str:
    """``PingPong`` → ``ping-pong``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()


def _norm(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


def endpoint_words(service: str, endpoint: Endpoint) -> str:
    """The words naming ``endpoint`` after ``micro <service>`` (``call``, ``greeter hello``)."""
    handler, _, method = endpoint.name.partition(".")
    if _norm(handler) == _norm(service):
        return kebab(method)
    return f"{kebab(handler)} {kebab(method)}"


def resolve_endpoint(service: str, words: list[str], endpoints: list[Endpoint]) -> str:
    """The ``Handler.Method`` the positional ``words`` (after the service) name, as in v3.

    Raises:
        micro.errors.NotImplementedError_: ``Endpoint X not found for service Y``.
    """
    from micro.client.dynamic import endpoint_not_found

    if len(words) == 0:
        handler, method = camel(service), "Call"
    elif len(words) == 1:
        handler, method = camel(service), camel(words[0])
    else:
        handler, method = camel(words[0]), camel(words[1])
    wanted = f"{handler}.{method}"
    if len(words) > 2:
        raise endpoint_not_found(service, ".".join(camel(w) for w in words))
    by_norm = {(_norm(e.name.partition(".")[0]), _norm(e.name.partition(".")[2])): e for e in endpoints}
    found = by_norm.get((_norm(handler), _norm(method)))
    if found is None and len(words) < 2:
        # a service whose one handler is not named after it: micro greeter-svc call
        handlers = {e.name.partition(".")[0] for e in endpoints}
        if len(handlers) == 1:
            found = by_norm.get((_norm(next(iter(handlers))), _norm(method)))
    if found is None:
        raise endpoint_not_found(service, wanted)
    return found.name


def _split_args(args: list[str]) -> tuple[list[str], list[str], bool]:
    """Leading endpoint words, the flags after them, and whether help was asked for."""
    wants_help = any(a in _HELP for a in args)
    rest = [a for a in args if a not in _HELP]
    words: list[str] = []
    while rest and not rest[0].startswith("-"):
        words.append(rest.pop(0))
    return words, rest, wants_help


class ServiceCommand(TyperCommand):
    """``micro <service> …``: every argument is handled here, help included."""

    def __init__(self, name: str, schemas: Schemas, domain: str) -> None:
        super().__init__(
            name,
            context_settings={
                "ignore_unknown_options": True,
                "allow_extra_args": True,
                "help_option_names": [],
            },
            add_help_option=False,
        )
        self.schemas = schemas
        self.domain = domain

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        ctx.meta["dynamic_args"] = list(args)
        return []

    def invoke(self, ctx: _click.Context) -> Any:
        from commands import _client

        return _client.run(lambda: self._run(ctx.meta.get("dynamic_args", [])))

    def shell_complete(self, ctx: _click.Context, incomplete: str) -> list[Any]:
        """The next endpoint word after those typed, or (after ``-``) the endpoint's flags."""
        from typer._click.shell_completion import CompletionItem

        from commands import _client

        assert self.name is not None
        service = self.name
        words, _, _ = _split_args(ctx.meta.get("dynamic_args", []))

        async def body() -> list[str]:
            endpoints = _endpoints(await self.schemas.get(service, domain=self.domain))
            if incomplete.startswith("-"):
                name = resolve_endpoint(service, words, endpoints)
                method = await self.schemas.method(service, name, domain=self.domain)
                return [f"--{spec.name}" for spec in flag_specs(method.request_descriptor)]
            following = set()
            for endpoint in endpoints:
                path = endpoint_words(service, endpoint).split()
                if len(path) > len(words) and path[: len(words)] == words:
                    following.add(path[len(words)])
            return sorted(following)

        try:
            names = _client.run(body)
        except Exception:  # completion never fails loudly
            return []
        return [CompletionItem(name) for name in names if name.startswith(incomplete)]

    async def _run(self, args: list[str]) -> None:
        assert self.name is not None
        service = self.name
        try:
            words, flags, wants_help = _split_args(args)
            schemas = await self.schemas.get(service, domain=self.domain)
            endpoints = _endpoints(schemas)
            if wants_help and not words:
                _service_help(service, endpoints)
                return
            name = resolve_endpoint(service, words, endpoints)
            method = await self.schemas.method(service, name, domain=self.domain)
            if wants_help:
                _endpoint_help(service, words, method)
                return
            flags, output = _take_output(flags, method.request_descriptor)
            try:
                request = flags_to_request(flags, method.request_descriptor)
            except FlagError as exc:
                if self.schemas.is_fresh(service, domain=self.domain):
                    raise
                # the cached schema may predate the field: ask the registry once
                await self.schemas.get(service, domain=self.domain, refresh=True)
                method = await self.schemas.method(service, name, domain=self.domain)
                try:
                    request = flags_to_request(flags, method.request_descriptor)
                except FlagError:
                    raise exc from None
            await self._call(method, request, output)
        except FlagError as exc:
            raise Failure(str(exc), 1) from exc
        finally:
            await self.schemas.close()

    async def _call(self, method: Method, request: dict[str, Any], output: str | None) -> None:
        from commands.call import read_only_guard
        from micro.client import dynamic
        from micro.registry import Streaming

        ctx = _context()
        kwargs: dict[str, Any] = {
            "namespace": ctx.namespace,
            "token": ctx.token,
            "domain": self.domain,
            "schemas": self.schemas,
            "guard": read_only_guard(ctx),
        }
        if method.streaming is Streaming.UNARY:
            response = await dynamic.call(ctx.address, method.service, method.name, request, **kwargs)
            out(dynamic.dumps(response))
            return
        compact = wants_json(output)
        async for item in dynamic.stream(ctx.address, method.service, method.name, request, **kwargs):
            out(dynamic.dumps(item, compact=compact))
            import sys

            sys.stdout.flush()


def _take_output(flags: list[str], request: Any) -> tuple[list[str], str | None]:
    """``--output``/``-o`` after the command (as every streaming command takes it), unless the
    request has a field of that name; returns the other flags and the format."""
    names = [n for n in ("output", "o") if n not in request.fields_by_name]
    rest: list[str] = []
    output: str | None = None
    i = 0
    while i < len(flags):
        arg = flags[i]
        i += 1
        key, eq, value = arg.lstrip("-").partition("=")
        spelled = arg.startswith("--output") if key == "output" else arg.startswith("-o")
        if key not in names or not spelled:
            rest.append(arg)
            continue
        if not eq:
            if i >= len(flags):
                raise FlagError(f"Flag {arg} needs a value")
            value = flags[i]
            i += 1
        if value not in ("text", "json"):
            raise FlagError(f"Invalid value for --output: {value!r} is not one of 'text', 'json'.")
        output = value
    return rest, output


def _endpoints(schemas: list[Schema]) -> list[Endpoint]:
    seen: dict[str, Endpoint] = {}
    for schema in schemas:
        for endpoint in schema.endpoints:
            seen.setdefault(endpoint.name, endpoint)
    return list(seen.values())


def _kind(endpoint: Endpoint) -> str:
    from micro.registry import Streaming

    return "" if endpoint.streaming is Streaming.UNARY else f" ({endpoint.streaming.value} stream)"


def _service_help(service: str, endpoints: list[Endpoint]) -> None:
    rows = sorted((endpoint_words(service, e), f"{e.name}{_kind(e)}") for e in endpoints)
    width = max((len(words) for words, _ in rows), default=0)
    out(f"Usage: micro {service} [COMMAND] [--FIELD VALUE ...]")
    out()
    out(f"Call the {service} service: a command per endpoint, its request fields as flags.")
    out()
    out("Commands:")
    for words, what in rows:
        out(f"  {words.ljust(width)}  {what}")


def _endpoint_help(service: str, words: list[str], method: Method) -> None:
    endpoint = method.endpoint
    specs = flag_specs(method.request_descriptor)
    path = " ".join([service, *words])
    out(f"Usage: micro {path} [--FIELD VALUE ...]")
    out()
    out(f"{endpoint.name}{_kind(endpoint)}: {endpoint.request_type} → {endpoint.response_type}")
    out()
    out("Flags:")
    width = max((len(s.name) for s in specs), default=0)
    for spec in specs:
        out(f"  --{spec.name.ljust(width)} {spec.type}")
    if not specs:
        out("  (none)")


def _context(params: dict[str, Any] | None = None) -> Context:
    """This command's context with its access token (the global options may not be applied yet)."""
    from commands import _client

    params = params or {}
    if params.get("env"):
        globals_.env = params["env"]
    if params.get("namespace"):
        globals_.namespace = params["namespace"]
    return _client.context()


async def _lookup(ctx: Context, name: str) -> tuple[Schemas, str] | None:
    """The schemas of ``name`` and the namespace it was found in, or None."""
    from micro import errors
    from micro.client.dynamic import Schemas

    domains = [""] if ctx.namespace == "micro" else ["", "micro"]
    schemas = Schemas(ctx.address, namespace=ctx.namespace, token=ctx.token)
    for domain in domains:
        if schemas.cached(name, domain=domain):
            return schemas, domain
    try:
        for domain in domains:
            try:
                await schemas.get(name, domain=domain, refresh=True)
            except errors.NotImplementedError_:
                continue
            except errors.Unavailable:
                # no server to ask: the word is not a command we know (v3 says so too)
                return None
            return schemas, domain
    finally:
        await schemas.close()  # its channel belongs to this event loop
    return None


def command_for(ctx: _click.Context, name: str) -> _click.Command | None:
    """The hook of :func:`commands.main.dynamic_command`: a command for service ``name``."""
    from commands import _client

    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        return None
    home = ctx.params.get("home")
    if home:  # the global options are not applied yet
        from micro import settings

        settings.use(dataclasses.replace(settings.paths(), home=str(home)))
    context = _context(ctx.params)
    found = _client.run(lambda: _lookup(context, name))
    if found is None:
        return None
    schemas, domain = found
    return ServiceCommand(name, schemas, domain)
