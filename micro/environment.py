"""Client-side context: environments, the current one, and each one's current namespace.

Shared by the CLI and the workspace, so it imports nothing heavy. Everything lives in
``MICRO_HOME/config.json``::

    {"env": "local",
     "envs": {"staging": {"address": "…", "description": "…", "read_only": false, "color": "",
                          "tls": true, "ca": "/path/to/ca.pem"}},
     "namespaces": {"local": "micro"}}

Keys this module does not know are kept when it rewrites the file, so other features can
store their own settings there. ``resolve`` applies ``MICRO_ENV``, ``MICRO_NAMESPACE`` and
``MICRO_PROXY`` (which overrides the environment's address; ``MICRO_PROXY_TLS`` /
``MICRO_PROXY_CA`` then say whether it serves TLS, as for services), and has a TLS
environment's address dialled over TLS (:func:`micro._platform.use_tls`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from micro import _paths, errors, settings

if TYPE_CHECKING:
    from micro.registry import Endpoint

__all__ = [
    "DEFAULT_NAMESPACE",
    "LOCAL",
    "Context",
    "Environment",
    "add",
    "current",
    "delete",
    "environments",
    "get",
    "namespace_of",
    "read_ca",
    "refuse_unless_side_effect_free",
    "resolve",
    "set_current",
    "set_namespace",
]

DEFAULT_NAMESPACE = "micro"


@dataclass(frozen=True, slots=True)
class Environment:
    """A named server address."""

    name: str
    address: str
    description: str = ""
    read_only: bool = False
    color: str = ""
    # the server serves TLS; ``ca`` is the PEM file of the CA to trust ("" = the system's)
    tls: bool = False
    ca: str = ""


LOCAL = Environment("local", "127.0.0.1:8081", "Local environment")


@dataclass(frozen=True, slots=True)
class Context:
    """Where a command goes: the environment, the address to dial and the namespace."""

    env: Environment
    address: str
    namespace: str
    # the auth feature fills this (MICRO_TOKEN, then the cached access token)
    token: str | None = None

    def require_writable(self) -> None:
        """Refuse a mutating command in a read-only environment."""
        if self.env.read_only:
            raise errors.BadRequest(f"Environment '{self.env.name}' is read-only")


# the session calls: login, silent refresh and logout work in a read-only environment too
SESSION_METHODS = frozenset(
    {"/auth.Auth/Token", "/auth.Auth/Inspect", "/auth.Auth/PublicKey", "/auth.Auth/Revoke"}
)


def refuse_unless_side_effect_free(ctx: Context, endpoint: Endpoint) -> None:
    """Refuse a call of ``endpoint`` in a read-only environment unless its .proto marks it
    side-effect free (``option idempotency_level = NO_SIDE_EFFECTS;``, carried by the
    registry) or it is a session call; an endpoint without the mark counts as mutating."""
    if endpoint.side_effect_free or endpoint.method in SESSION_METHODS:
        return
    ctx.require_writable()


def _load() -> dict[str, Any]:
    path = _paths.config_file()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise errors.BadRequest(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _save(data: dict[str, Any]) -> None:
    _paths.write_private(_paths.config_file(), json.dumps(data, indent=2, sort_keys=True) + "\n")


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` as an object to write into (one edited by hand into something else is
    read as empty, so it is replaced)."""
    if not isinstance(data.get(key), dict):
        data[key] = {}
    section: dict[str, Any] = data[key]
    return section


def _from_dict(name: str, raw: Any) -> Environment:
    raw = raw if isinstance(raw, dict) else {}
    return Environment(
        name=name,
        address=str(raw.get("address", "")),
        description=str(raw.get("description", "")),
        read_only=bool(raw.get("read_only", False)),
        color=str(raw.get("color", "")),
        tls=bool(raw.get("tls", False)),
        ca=str(raw.get("ca", "")),
    )


def _envs(data: dict[str, Any]) -> dict[str, Environment]:
    found = {LOCAL.name: LOCAL}
    stored = data.get("envs")
    if isinstance(stored, dict):
        for name, raw in stored.items():
            if name != LOCAL.name:
                found[name] = _from_dict(name, raw)
    return found


# letters, digits, '-', '_', '.': a name is a JSON key, a keyring entry ``<env>/<namespace>``
# and a column of ``micro env``, so no '/', no spaces, no control characters
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _check(env: Environment) -> None:
    """Refuse a name or address that later commands could not use."""
    if not env.name or not env.address:
        raise errors.BadRequest("an environment needs a name and an address")
    if not _NAME.fullmatch(env.name):
        raise errors.BadRequest(
            f"Invalid environment name {env.name!r}: use letters, digits, '-', '_' and '.'"
        )
    address = env.address
    invalid = errors.BadRequest(f"Invalid address {address!r}: expected host:port")
    if not address.isprintable() or any(c.isspace() for c in address):
        raise invalid
    if env.ca:
        read_ca(env.ca)
    if "://" in address or address.startswith("unix:"):
        return  # a gRPC target URI
    _, sep, port = address.rpartition(":")
    # a bare host is fine (grpc's default port, as v3's `env add platform proxy.m3o.com`)
    if sep and not (port.isdigit() and 0 < int(port) <= 65535):
        raise invalid


def read_ca(path: str) -> bytes:
    """The PEM certificates of a CA file (``--ca``, ``MICRO_PROXY_CA``).

    Raises:
        BadRequest: the file cannot be read or holds no PEM certificate.
    """
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise errors.BadRequest(f"Cannot read the CA file {path}: {reason}") from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise errors.BadRequest(f"The CA file {path} holds no PEM certificate")
    return pem


def _missing(name: str) -> errors.NotFound:
    return errors.NotFound(f"Environment '{name}' does not exist")


def environments() -> list[Environment]:
    """Every environment, sorted by name (``local`` is always there)."""
    return sorted(_envs(_load()).values(), key=lambda env: env.name)


def get(name: str) -> Environment:
    env = _envs(_load()).get(name)
    if env is None:
        raise _missing(name)
    return env


def current() -> Environment:
    """The current environment (``local`` when none is set or it has gone)."""
    data = _load()
    envs = _envs(data)
    return envs.get(str(data.get("env", LOCAL.name)), LOCAL)


def set_current(name: str) -> None:
    data = _load()
    if name not in _envs(data):
        raise _missing(name)
    data["env"] = name
    _save(data)


def add(env: Environment) -> None:
    """Add ``env``; an existing name is a conflict. A CA file makes it TLS and is kept as an
    absolute path (commands run from anywhere)."""
    if env.ca:
        env = replace(env, tls=True, ca=os.path.abspath(env.ca))
    _check(env)
    data = _load()
    if env.name in _envs(data):
        raise errors.Conflict(f"Environment '{env.name}' already exists")
    stored = {k: v for k, v in asdict(env).items() if k != "name"}
    _section(data, "envs")[env.name] = stored
    _save(data)


def delete(name: str) -> None:
    """Remove ``name``; the built-in ``local`` cannot be deleted."""
    if name == LOCAL.name:
        raise errors.BadRequest(f"Environment '{name}' cannot be deleted")
    data = _load()
    if name not in _envs(data):
        raise _missing(name)
    del data["envs"][name]
    if data.get("env") == name:
        data["env"] = LOCAL.name
    namespaces = data.get("namespaces")
    if isinstance(namespaces, dict):
        namespaces.pop(name, None)
    _save(data)


def namespace_of(env_name: str) -> str:
    """The current namespace of ``env_name`` (``micro`` unless one was set)."""
    namespaces = _load().get("namespaces")
    if isinstance(namespaces, dict) and namespaces.get(env_name):
        return str(namespaces[env_name])
    return DEFAULT_NAMESPACE


def set_namespace(env_name: str, namespace: str) -> None:
    data = _load()
    if env_name not in _envs(data):
        raise _missing(env_name)
    _section(data, "namespaces")[env_name] = namespace
    _save(data)


def resolve(env: str | None = None, namespace: str | None = None) -> Context:
    """The context of one command: explicit overrides, then ``MICRO_*``, then config.json."""
    data = _load()
    envs = _envs(data)
    told = settings.client()
    name = env or told.env or str(data.get("env", LOCAL.name))
    chosen = envs.get(name)
    if chosen is None:
        if env or told.env:
            raise _missing(name)
        chosen = LOCAL  # the stored current env was deleted by hand
    ns = namespace or told.namespace or namespace_of(chosen.name)
    address = told.proxy or chosen.address
    if chosen.tls and not told.proxy:
        from micro import _platform

        _platform.use_tls(address, chosen.ca)
    token = told.token or None
    return Context(env=chosen, address=address, namespace=ns, token=token)
