"""Typed settings: every ``MICRO_*`` variable micro reads, validated and documented once.

Data only: the standard library and nothing of ``server``, ``commands`` or ``micro_tui``, so
services import it freely and ``micro --help`` stays fast. One frozen dataclass per concern:

    Paths    where micro keeps its state (``MICRO_HOME``)
    Client   where the CLI, the workspace and services send their calls
    Cli      the command line's output, tracebacks and deadline
    Service  what a service process is told by whoever starts it (the runtime, or a person)
    Server   ``micro server``: profile, backends, addresses, TLS
    Auth     the server's auth service: token lifetimes, the default admin
    Limits   what one request may ask of a server (``MICRO_LIMIT_*``)

Each section's ``from_env(environ)`` reads its variables (an empty one counts as unset) and
raises :class:`~micro.errors.BadRequest` naming the variable for a bad value; ``to_env()``
writes it back as the variables that differ from the defaults, so that
``from_env(s.to_env()) == s``. :class:`Settings` holds one of each.

Each section has an accessor (:func:`client`, :func:`limits`, …) that reads ``os.environ``
once per process, on first use. Nothing writes ``MICRO_*`` into ``os.environ``: a process
whose flags override a variable (the CLI's ``--home``, ``micro server --disable-admin``)
calls :func:`use`, and hands its settings to a child process with :func:`child_env`. Tests
that change a variable call :func:`reload` (tests/conftest.py's ``monkeypatch`` does it).

``python -m micro.settings --markdown`` prints the README's tables of variables (a test keeps
the README equal to it); ``--update README.md`` rewrites them in place.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, NamedTuple, Self, TypeVar, cast

from micro._duration import parse_duration

__all__ = [
    "SECTIONS",
    "Auth",
    "Cli",
    "Client",
    "Limits",
    "Paths",
    "Section",
    "Server",
    "Service",
    "Settings",
    "Variable",
    "auth",
    "child_env",
    "cli",
    "client",
    "limits",
    "markdown",
    "paths",
    "reload",
    "server",
    "service",
    "use",
    "variables",
]

_MIB = 1024 * 1024


def _bad(message: str) -> Exception:
    from micro import errors  # only when a value is bad: keeps this module's import cheap

    return errors.BadRequest(message)


# -- kinds of value -----------------------------------------------------------------------


# NamedTuples rather than dataclasses where nothing asks for one: a dataclass costs this module's
# import (which ``micro --help`` pays) about five compiled functions
class _Kind(NamedTuple):
    """How a variable's text becomes a value and back, and how the README names its type."""

    label: str
    parse: Callable[[str, str], Any]  # (variable, stripped non-empty text) -> value
    format: Callable[[Any], str] = str


def _text(name: str, raw: str) -> str:
    return raw


# Click's words, so that MICRO_DEBUG means the same to typer as to the settings
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def _flag(name: str, raw: str) -> bool:
    word = raw.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _bad(f"{name} must be true or false (1, yes, on / 0, no, off), not {raw!r}")


def _positive(name: str, raw: str) -> int:
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise _bad(f"{name} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise _bad(f"{name} must be positive, not {value}")
    return value


def _whole(name: str, raw: str) -> int:
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise _bad(f"{name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise _bad(f"{name} must be 0 or more, not {value}")
    return value


def _deadline(name: str, raw: str) -> float | None:
    try:
        seconds = parse_duration(raw)
    except ValueError:
        raise _bad(f"{name} must be a duration such as 10s, 2m or 0 (none), not {raw!r}") from None
    return seconds or None


def _format_deadline(value: float | None) -> str:
    if value is None:
        return "0"
    return str(int(value)) if value.is_integer() else repr(value)


def _choice(*words: str) -> _Kind:
    def parse(name: str, raw: str) -> str:
        if raw not in words:
            raise _bad(f"{name} must be one of {', '.join(words)}, not {raw!r}")
        return raw

    return _Kind(" or ".join(f"`{w}`" for w in words), parse)


TEXT = _Kind("text", _text)
PATH = _Kind("path", _text)
ADDRESS = _Kind("host:port", _text)
FLAG = _Kind("true/false", _flag, lambda value: "1" if value else "0")
COUNT = _Kind("whole number > 0", _positive)
WHOLE = _Kind("whole number ≥ 0", _whole)
SECONDS = _Kind("seconds > 0", _positive)
DEADLINE = _Kind("duration", _deadline, _format_deadline)


# -- declaring variables ------------------------------------------------------------------

_KEY = "micro.settings"


class Variable(NamedTuple):
    """One ``MICRO_*`` variable: the field of its section it fills, and its documentation."""

    #: the variable's name (``MICRO_HOME``)
    name: str
    #: the section class and the field the variable fills
    section: type[Section]
    field: str
    #: how the text becomes a value and back
    kind: _Kind
    #: what it does, for the README
    doc: str
    #: the command-line option that sets the same thing ("" when none)
    option: str
    #: the default as the README shows it
    default: str


def _var(name: str, default: Any, doc: str, *, kind: _Kind = TEXT, option: str = "", shown: str = "") -> Any:
    """A section field filled from the variable ``name`` (``shown``: the default as the README
    says it, when the value itself would not tell a reader)."""
    spec = {"name": name, "kind": kind, "doc": doc, "option": option, "shown": shown}
    return dataclasses.field(default=default, metadata={_KEY: spec})


def _shown(kind: _Kind, default: Any) -> str:
    if kind is FLAG:
        return "on" if default else "off"
    return f"`{kind.format(default)}`" if default else ""


class Section:
    """What every section does; each section is a frozen dataclass of :func:`_var` fields."""

    #: the section's name in the README ("" = the class's)
    title: ClassVar[str] = ""

    @classmethod
    def variables(cls) -> list[Variable]:
        """The section's variables, in the order of its fields."""
        found = []
        for f in dataclasses.fields(cast(Any, cls)):
            spec = f.metadata[_KEY]
            shown = spec["shown"] or _shown(spec["kind"], f.default)
            found.append(
                Variable(spec["name"], cls, f.name, spec["kind"], spec["doc"], spec["option"], shown)
            )
        return found

    @classmethod
    def variable(cls, field: str) -> str:
        """The name of the variable behind ``field`` (for typer's ``envvar=``)."""
        for v in cls.variables():
            if v.field == field:
                return v.name
        raise KeyError(f"{cls.__name__} has no field {field!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        """The section ``environ`` sets, defaults for the rest.

        Raises:
            BadRequest: a variable with a bad value (the line names the variable).
        """
        values: dict[str, Any] = {}
        for v in cls.variables():
            raw = environ.get(v.name, "").strip()
            if raw:
                values[v.field] = v.kind.parse(v.name, raw)
        return cast(Self, cast(Any, cls)(**values))

    def to_env(self) -> dict[str, str]:
        """The variables that set this section (those that differ from the defaults)."""
        env: dict[str, str] = {}
        for f in dataclasses.fields(cast(Any, self)):
            value = getattr(self, f.name)
            if value != f.default:
                spec = f.metadata[_KEY]
                env[spec["name"]] = spec["kind"].format(value)
        return env


# -- the sections -------------------------------------------------------------------------


@dataclass(frozen=True)
class Paths(Section):
    """Where micro keeps its state: the CLI, the workspace and the server."""

    home: str = _var(
        "MICRO_HOME",
        "",
        "the folder of all state (environments, logins, the server's data, logs, cache), created 0700",
        kind=PATH,
        option="`--home DIR`",
        shown="`~/.micro`",
    )


@dataclass(frozen=True)
class Client(Section):
    """Where the CLI, the workspace and services send their calls."""

    env: str = _var(
        "MICRO_ENV",
        "",
        "the environment to use instead of the current one",
        option="`-e, --env NAME`",
        shown="the current one",
    )
    namespace: str = _var(
        "MICRO_NAMESPACE",
        "",
        "the namespace to use instead of the environment's current one",
        option="`--namespace NS`",
        shown="the environment's (`micro`)",
    )
    proxy: str = _var(
        "MICRO_PROXY",
        "",
        "the server's gRPC address, overriding the environment's",
        kind=ADDRESS,
        shown="the environment's (services: `127.0.0.1:8081`)",
    )
    proxy_tls: bool = _var("MICRO_PROXY_TLS", False, "the server at `MICRO_PROXY` serves TLS", kind=FLAG)
    proxy_ca: str = _var(
        "MICRO_PROXY_CA",
        "",
        "the PEM file of the CA to trust for `MICRO_PROXY` (implies TLS)",
        kind=PATH,
        shown="the system's CAs",
    )
    token: str = _var(
        "MICRO_TOKEN",
        "",
        "the access token every call carries, overriding the stored login (a service's own"
        " credentials win over it)",
        shown="the stored login",
    )


@dataclass(frozen=True)
class Cli(Section):
    """The command line's output, tracebacks and deadline."""

    title = "CLI"

    output: str = _var(
        "MICRO_OUTPUT", "text", "output format", kind=_choice("text", "json"), option="`--output text|json`"
    )
    debug: bool = _var(
        "MICRO_DEBUG", False, "print the traceback of a failure", kind=FLAG, option="`--debug`"
    )
    timeout: float | None = _var(
        "MICRO_TIMEOUT",
        10.0,
        "deadline of each unary call: `15s`, `2m`, plain seconds, `0` for none (v3's `--request_timeout`)",
        kind=DEADLINE,
        option="`--timeout D`",
        shown="`10s`",
    )


@dataclass(frozen=True)
class Service(Section):
    """What a service process is told by whoever starts it (the runtime, or a person)."""

    name: str = _var("MICRO_SERVICE_NAME", "", "the registered name, instead of the one in the code")
    version: str = _var("MICRO_SERVICE_VERSION", "", "the registered version, instead of the one in the code")
    auth_id: str = _var("MICRO_AUTH_ID", "", "the service account's id (with `MICRO_AUTH_SECRET`)")
    auth_secret: str = _var("MICRO_AUTH_SECRET", "", "the service account's secret")
    auth_file: str = _var(
        "MICRO_AUTH_FILE",
        "",
        'a JSON file `{"id": …, "secret": …}` with the service\'s credentials (wins over `MICRO_AUTH_ID`)',
        kind=PATH,
    )


@dataclass(frozen=True)
class Server(Section):
    """``micro server``: the backends, addresses and TLS."""

    profile: str = _var(
        "MICRO_PROFILE",
        "local",
        "backends of every core service: `local` (SQLite) or `test` (memory)",
        option="`--profile NAME`",
    )
    store: str = _var(
        "MICRO_STORE",
        "",
        "the store's backend, overriding the profile's: `memory` or `sqlite`",
        shown="the profile's",
    )
    events: str = _var(
        "MICRO_EVENTS",
        "",
        "the events' backend, overriding the profile's: `memory` or `sqlite`",
        shown="the profile's",
    )
    address: str = _var(
        "MICRO_SERVER_ADDRESS",
        "127.0.0.1:8081",
        "gRPC address (port 0 picks a free port)",
        kind=ADDRESS,
        option="`server --address`",
    )
    api_address: str = _var(
        "MICRO_API_ADDRESS",
        "127.0.0.1:8080",
        "HTTP gateway address",
        kind=ADDRESS,
        option="`server --api-address`",
    )
    api_cors_origins: str = _var(
        "MICRO_API_CORS_ORIGINS",
        "",
        "origins (comma-separated) whose web pages may call the HTTP gateway with credentials",
    )
    tls_cert: str = _var(
        "MICRO_TLS_CERT",
        "",
        "serve gRPC over TLS with this certificate (PEM)",
        kind=PATH,
        option="`server --tls-cert`",
    )
    tls_key: str = _var(
        "MICRO_TLS_KEY",
        "",
        "the private key (PEM) of `MICRO_TLS_CERT`",
        kind=PATH,
        option="`server --tls-key`",
    )
    without: str = _var(
        "MICRO_SERVER_WITHOUT",
        "",
        "core services (comma-separated) the server leaves to processes of their own"
        " (`micro service NAME` pointed at it); not `registry` or `auth`",
        option="`server --without NAMES`",
        shown="none",
    )
    register_seconds: int = _var(
        "MICRO_RUNTIME_REGISTER_SECONDS",
        60,
        "how long each instance of a service the runtime starts has to register before the "
        "service is in `error`",
        kind=SECONDS,
    )
    max_retries: int = _var(
        "MICRO_RUNTIME_MAX_RETRIES",
        5,
        "how many times the runtime restarts a service's crashed instance (the count starts over "
        "after 10 minutes of healthy running) before the service stays in `error`; `0`: never",
        kind=WHOLE,
    )
    backoff_cap: int = _var(
        "MICRO_RUNTIME_BACKOFF_CAP",
        30,
        "the longest wait before a restart (the waits double from 0.25 s up to it)",
        kind=SECONDS,
    )


@dataclass(frozen=True)
class Auth(Section):
    """The server's auth service."""

    token_ttl: int = _var("MICRO_AUTH_TOKEN_TTL", 900, "lifetime of an access token", kind=SECONDS)
    refresh_ttl: int = _var(
        "MICRO_AUTH_REFRESH_TTL",
        30 * 24 * 3600,
        "lifetime of a refresh token",
        kind=SECONDS,
        shown="`2592000` (30 days)",
    )
    disable_admin: bool = _var(
        "MICRO_AUTH_DISABLE_ADMIN",
        False,
        "create no default `admin` account",
        kind=FLAG,
        option="`server --disable-admin`",
    )


@dataclass(frozen=True)
class Limits(Section):
    """What one request may ask of a server, so that no caller can exhaust its memory or stall
    its event loop for the others."""

    descriptor_bytes: int = _var(
        "MICRO_LIMIT_DESCRIPTOR_BYTES",
        4 * _MIB,
        "bytes of the descriptor set of one registration",
        kind=COUNT,
        shown="`4194304` (4 MiB)",
    )
    endpoints: int = _var("MICRO_LIMIT_ENDPOINTS", 1000, "endpoints of one registered service", kind=COUNT)
    schema_values: int = _var(
        "MICRO_LIMIT_SCHEMA_VALUES",
        10_000,
        "schema fields (nested ones included) of one registration's endpoints",
        kind=COUNT,
    )
    nodes: int = _var("MICRO_LIMIT_NODES", 100, "nodes of one service version", kind=COUNT)
    registry_ttl: int = _var(
        "MICRO_LIMIT_REGISTRY_TTL", 300, "seconds a registration may ask to live", kind=COUNT
    )
    name_chars: int = _var(
        "MICRO_LIMIT_NAME_CHARS",
        255,
        "characters of a name, id or path (services, nodes, endpoints, databases, tables, accounts,"
        " rules, namespaces, config paths; store keys keep 1,024 bytes)",
        kind=COUNT,
    )
    metadata_bytes: int = _var(
        "MICRO_LIMIT_METADATA_BYTES",
        16 * 1024,
        "bytes of the metadata of an account, a service, a node, an endpoint or a store record",
        kind=COUNT,
    )
    watches: int = _var("MICRO_LIMIT_WATCHES", 64, "open registry and config watches per caller", kind=COUNT)
    config_depth: int = _var(
        "MICRO_LIMIT_CONFIG_DEPTH", 64, "nesting of a config document, path keys included", kind=COUNT
    )
    api_body_bytes: int = _var(
        "MICRO_LIMIT_API_BODY_BYTES",
        4 * _MIB,
        "bytes of an HTTP request's body at the gateway (413 past it)",
        kind=COUNT,
        shown="`4194304` (4 MiB)",
    )
    api_read_seconds: int = _var(
        "MICRO_LIMIT_API_READ_SECONDS",
        10,
        "seconds an HTTP client has to send a request's headers, and again its body, before the "
        "gateway answers 408 and closes the connection (slow clients cannot pin it)",
        kind=SECONDS,
    )


SECTIONS: tuple[type[Section], ...] = (Paths, Client, Cli, Service, Server, Auth, Limits)


def variables() -> list[Variable]:
    """Every variable of every section."""
    return [v for section in SECTIONS for v in section.variables()]


# -- this process's settings --------------------------------------------------------------

S = TypeVar("S", bound=Section)


class _Current(Generic[S]):
    """This process's ``section``: read from ``os.environ`` on first use, unless :func:`use`
    gave one. Call it for the section; ``cache_clear()`` has it read again."""

    def __init__(self, section: type[S]) -> None:
        self.section = section
        self.value: S | None = None

    def __call__(self) -> S:
        value = self.value
        if value is None:
            value = self.value = self.section.from_env(os.environ)
        return value

    def cache_clear(self) -> None:
        self.value = None


paths = _Current(Paths)
client = _Current(Client)
cli = _Current(Cli)
service = _Current(Service)
server = _Current(Server)
auth = _Current(Auth)
limits = _Current(Limits)

_CURRENT: dict[type[Section], _Current[Any]] = {
    c.section: c for c in (paths, client, cli, service, server, auth, limits)
}


def use(*sections: Section) -> None:
    """Make ``sections`` this process's, in place of what the environment says (flags that
    override a variable); a child process gets them through :func:`child_env`."""
    for section in sections:
        _CURRENT[type(section)].value = section


def reload() -> None:
    """Forget this process's settings: the next use reads ``os.environ`` again."""
    for current in _CURRENT.values():
        current.cache_clear()


@dataclass(frozen=True)
class Settings:
    """One of each section: everything a process is configured with."""

    paths: Paths = dataclasses.field(default_factory=Paths)
    client: Client = dataclasses.field(default_factory=Client)
    cli: Cli = dataclasses.field(default_factory=Cli)
    service: Service = dataclasses.field(default_factory=Service)
    server: Server = dataclasses.field(default_factory=Server)
    auth: Auth = dataclasses.field(default_factory=Auth)
    limits: Limits = dataclasses.field(default_factory=Limits)

    _FIELDS: ClassVar[dict[type[Section], str]] = {
        Paths: "paths",
        Client: "client",
        Cli: "cli",
        Service: "service",
        Server: "server",
        Auth: "auth",
        Limits: "limits",
    }

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Every section ``environ`` sets.

        Raises:
            BadRequest: the first variable with a bad value.
        """
        return cls(
            paths=Paths.from_env(environ),
            client=Client.from_env(environ),
            cli=Cli.from_env(environ),
            service=Service.from_env(environ),
            server=Server.from_env(environ),
            auth=Auth.from_env(environ),
            limits=Limits.from_env(environ),
        )

    @classmethod
    def current(cls) -> Settings:
        """This process's settings (what :func:`use` gave, else ``os.environ``)."""
        return cls(
            paths=paths(),
            client=client(),
            cli=cli(),
            service=service(),
            server=server(),
            auth=auth(),
            limits=limits(),
        )

    def replace(self, *sections: Section) -> Settings:
        """These settings with ``sections`` in place of their own."""
        values: dict[str, Any] = {self._FIELDS[type(s)]: s for s in sections}
        return dataclasses.replace(self, **values)

    def to_env(self) -> dict[str, str]:
        """The variables that set these settings (those that differ from the defaults)."""
        env: dict[str, str] = {}
        for name in self._FIELDS.values():
            section: Section = getattr(self, name)
            env.update(section.to_env())
        return env


def child_env(*sections: Section, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: ``base`` (``os.environ``) without any variable of
    ours, plus this process's settings (with ``sections`` in place of the current ones), so
    that the child sees what :func:`use` set and not the parent's raw variables.

    Raises:
        BadRequest: a variable of this process with a bad value.
    """
    ours = {v.name for v in variables()}
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in ours}
    env.update(Settings.current().replace(*sections).to_env())
    return env


def foreign_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (``os.environ``) without any ``MICRO_*`` variable: the environment of a child
    that must not inherit this process's settings (a service the runtime starts, which gets
    its own; git)."""
    return {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("MICRO_")}


# -- the README's tables ------------------------------------------------------------------

BEGIN = "<!-- settings:begin (generated: python -m micro.settings --update README.md) -->"
END = "<!-- settings:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """The README's tables of variables: one per section, from the declarations above."""
    lines: list[str] = []
    for section in SECTIONS:
        summary = " ".join((section.__doc__ or "").split()).replace("``", "`")
        lines += [f"**{section.title or section.__name__}** — {summary}", ""]
        lines += ["| Variable | Option | Type | Default | Meaning |", "|---|---|---|---|---|"]
        for v in section.variables():
            cells = (f"`{v.name}`", v.option, v.kind.label, v.default, v.doc)
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def readme_block(text: str) -> str:
    """What lies between the markers in ``text`` (the README)."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip("\n") + "\n"


def _main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        sys.stdout.write(markdown())
        return 0
    if len(argv) == 2 and argv[0] == "--update":
        with open(argv[1], encoding="utf-8") as f:
            text = f.read()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        with open(argv[1], "w", encoding="utf-8") as f:
            f.write(text[:start] + "\n" + markdown() + text[end:])
        return 0
    sys.stderr.write("usage: python -m micro.settings --markdown | --update README.md\n")
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
