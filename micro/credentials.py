"""Client credentials: one login per environment + namespace.

- The long-lived refresh token lives in the OS keyring (service ``micro``, user
  ``<env>/<namespace>``). When no keyring backend works (``keyring.backends.fail``, the
  usual case on headless Linux, or any keyring error) it goes to ``MICRO_HOME/credentials.json``
  (0600) instead.
- The short-lived access token is cached in ``MICRO_HOME/tokens.json`` (0600), so ordinary
  commands read one small file and never import keyring.
- ``MICRO_TOKEN`` overrides both.

:func:`access_token` refreshes silently (Auth.Token with the refresh token, which rotates
it) shortly before the access token expires. A corrupted or revoked login raises one
:class:`~micro.errors.Unauthorized` whose detail tells the user to run ``micro login``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from micro import _paths, errors, settings
from micro.auth import Token

__all__ = [
    "CORRUPTED",
    "KEYRING_SERVICE",
    "REVOKED",
    "access_token",
    "claims",
    "forget",
    "forget_secret",
    "keyring_user",
    "load_secret",
    "logged_in",
    "login",
    "logout",
    "refused",
    "save",
    "save_secret",
]

log = logging.getLogger(__name__)

KEYRING_SERVICE = "micro"
CORRUPTED = "the stored login is corrupted; run 'micro login'"
REVOKED = "your login has expired or was revoked; run 'micro login'"
REFUSED = "the server refused the stored login ({detail}); run 'micro login'"
Refresher = Callable[[str, str, str], Token]  # (address, namespace, refresh token) -> Token


def _key(env: str, namespace: str) -> str:
    return f"{env}/{namespace}"


def keyring_user(env: str, namespace: str) -> str:
    """The keyring entry of a login: ``<env>/<namespace>``, prefixed with the home folder
    when ``MICRO_HOME`` is not the default (two homes never share a login)."""
    home = _paths.home()
    if home == (Path.home() / ".micro"):
        return _key(env, namespace)
    return f"{home}:{_key(env, namespace)}"


def _tokens_file() -> Any:
    return _paths.home() / "tokens.json"


def _fallback_file() -> Any:
    return _paths.home() / "credentials.json"


def _read_json(path: Any) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise errors.Unauthorized(CORRUPTED) from exc
    if not isinstance(data, dict):
        raise errors.Unauthorized(CORRUPTED)
    return data


def _write_json(path: Any, data: dict[str, Any]) -> None:
    _paths.write_private(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One process at a time rewrites the credential files (refresh tokens rotate)."""
    fd = os.open(_paths.home() / "credentials.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _keyring() -> Any | None:
    """The working keyring backend, or None (imports keyring: only on login/refresh)."""
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyring installation is the same as none
        log.debug("no keyring: %s", exc)
        return None
    if isinstance(backend, fail.Keyring) or type(backend).__module__ == "keyring.backends.null":
        return None
    return backend


def _fallback() -> dict[str, Any]:
    """The fallback file's logins for rewriting it; a damaged file counts as empty (its
    tokens are unreadable anyway), so a new login replaces it instead of failing."""
    try:
        return _read_json(_fallback_file())
    except errors.Unauthorized:
        log.debug("replacing the corrupted %s", _fallback_file())
        return {}


def _user_of(key: str) -> str:
    env, _, namespace = key.partition("/")
    return keyring_user(env, namespace)


def _store_refresh(key: str, refresh_token: str) -> str:
    """Keep the refresh token in the keyring, else the fallback file; returns where."""
    backend = _keyring()
    if backend is not None:
        try:
            backend.set_password(KEYRING_SERVICE, _user_of(key), refresh_token)
        except Exception as exc:
            log.debug("keyring refused the token, using the file fallback: %s", exc)
        else:
            _drop_fallback(key)
            return "keyring"
    data = _fallback()
    data[key] = refresh_token
    _write_json(_fallback_file(), data)
    return "file"


def _load_refresh(key: str, where: str) -> str | None:
    if where == "keyring":
        backend = _keyring()
        if backend is None:
            return None
        try:
            value = backend.get_password(KEYRING_SERVICE, _user_of(key))
        except Exception as exc:
            log.debug("keyring read failed: %s", exc)
            return None
        return str(value) if value else None
    value = _read_json(_fallback_file()).get(key)
    return value if isinstance(value, str) and value else None


def _drop_fallback(key: str) -> None:
    path = _fallback_file()
    if path.exists():
        try:
            data = _read_json(path)
        except errors.Unauthorized:
            data = {key: ""}  # damaged: rewritten without it
        if data.pop(key, None) is not None:
            _write_json(path, data)


def save(env: str, namespace: str, token: Token) -> str:
    """Remember a login; returns where the refresh token went (``keyring`` or ``file``)."""
    key = _key(env, namespace)
    with _locked():
        where = _store_refresh(key, token.refresh_token)
        try:
            data = _read_json(_tokens_file())
        except errors.Unauthorized:
            data = {}  # a corrupted cache is replaced by a fresh login
        data[key] = {
            "access_token": token.access_token,
            "created": token.created,
            "expiry": token.expiry,
            "where": where,
        }
        _write_json(_tokens_file(), data)
    return where


async def login(
    env: str, namespace: str, address: str, username: str, password: str, *, token: str | None = None
) -> Token:
    """Log in with a username and password (Auth.Token at ``address``) and remember the
    login of ``env`` + ``namespace`` (:func:`save`); ``micro login`` and the workspace.

    Raises:
        micro.errors.Unauthorized: wrong username or password (the server's detail).
    """
    from micro.auth.grpc import GrpcAuth

    auth = GrpcAuth(address, namespace=namespace, token=token)
    try:
        found = await auth.token(id=username, secret=password, namespace=namespace)
    finally:
        await auth.close()
    save(env, namespace, found)
    return found


def forget(env: str, namespace: str) -> None:
    """Forget the login of ``env`` + ``namespace`` (both stores)."""
    key = _key(env, namespace)
    with _locked():
        try:
            data = _read_json(_tokens_file())
        except errors.Unauthorized:
            data = {}
        entry = data.pop(key, None)
        _write_json(_tokens_file(), data)
        if isinstance(entry, dict) and entry.get("where") == "keyring":
            backend = _keyring()
            if backend is not None:
                with contextlib.suppress(Exception):
                    backend.delete_password(KEYRING_SERVICE, _user_of(key))
        _drop_fallback(key)


def logout(
    env: str, namespace: str, address: str, *, revoker: Callable[[str, str], None] | None = None
) -> bool:
    """End the login of ``env`` + ``namespace``: its session on the server (Auth.Revoke with
    the refresh token, so neither it nor any token rotated from it works again), then
    :func:`forget`. The local login is forgotten even when the server cannot be reached;
    returns whether the server ended the session (True when there was nothing to end)."""
    key = _key(env, namespace)
    refresh_token = None
    with contextlib.suppress(errors.Unauthorized):  # a damaged login has nothing to revoke
        entry = _entry(_read_json(_tokens_file()), key)
        if entry is not None:
            refresh_token = _load_refresh(key, str(entry.get("where", "file")))
    ended = True
    if refresh_token:
        try:
            (revoker or _revoke)(address, refresh_token)
        except errors.MicroError as exc:
            log.debug("could not revoke the refresh token: %s", exc)
            ended = False
    forget(env, namespace)
    return ended


def _revoke(address: str, refresh_token: str) -> None:
    """Auth.Revoke over a short-lived synchronous channel (no token: it is public)."""
    import grpc

    from micro._grpc import CHANNEL_OPTIONS, rpc_errors
    from micro.proto.auth import auth_pb2, auth_pb2_grpc

    request = auth_pb2.RevokeRequest(refresh_token=refresh_token)
    with grpc.insecure_channel(address, options=CHANNEL_OPTIONS) as channel, rpc_errors(address):
        auth_pb2_grpc.AuthStub(channel).Revoke(request, timeout=10)


def refused(env: str, namespace: str, detail: str) -> errors.Unauthorized:
    """The server rejected the stored access token of ``env`` + ``namespace`` (another
    signing key: the server's data was reset, or another server answers the address): the
    next command refreshes it first. Returns the error telling the user to log in."""
    key = _key(env, namespace)
    with _locked(), contextlib.suppress(errors.Unauthorized):
        data = _read_json(_tokens_file())
        entry = data.get(key)
        if isinstance(entry, dict):
            entry["expiry"] = 0
            _write_json(_tokens_file(), data)
    return errors.Unauthorized(REFUSED.format(detail=detail))


def logged_in(env: str) -> list[str]:
    """Namespaces of ``env`` with a stored login, sorted."""
    try:
        data = _read_json(_tokens_file())
    except errors.Unauthorized:
        return []
    prefix = f"{env}/"
    return sorted(k[len(prefix) :] for k in data if k.startswith(prefix))


def claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (the server verifies; this is for display)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise errors.Unauthorized(CORRUPTED) from exc
    if not isinstance(data, dict) or "sub" not in data:
        raise errors.Unauthorized(CORRUPTED)
    return data


def _entry(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    entry = data.get(key)
    if entry is None:
        return None
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("access_token"), str)
        or not isinstance(entry.get("expiry"), int)
    ):
        raise errors.Unauthorized(CORRUPTED)
    claims(entry["access_token"])
    return entry


def _fresh(entry: dict[str, Any], now: float) -> bool:
    """Still valid for a while: refresh within a minute (or a quarter of a short life)."""
    lifetime = max(0, int(entry["expiry"]) - int(entry.get("created", 0) or 0))
    margin = min(60.0, lifetime / 4)
    return now < int(entry["expiry"]) - margin


def access_token(env: str, namespace: str, address: str, *, refresher: Refresher | None = None) -> str | None:
    """The access token to send for ``env`` + ``namespace`` (None: not logged in).

    ``MICRO_TOKEN`` wins. A token close to expiry is refreshed first (rotating the refresh
    token); a login that cannot be refreshed raises Unauthorized telling the user to log in.
    """
    override = settings.client().token
    if override:
        return override
    key = _key(env, namespace)
    path = _tokens_file()
    if not path.exists():
        return None
    entry = _entry(_read_json(path), key)
    if entry is None:
        return None
    if _fresh(entry, time.time()):
        return str(entry["access_token"])
    with _locked():
        data = _read_json(path)  # another process may have refreshed meanwhile
        entry = _entry(data, key)
        if entry is None:
            return None
        if _fresh(entry, time.time()):
            return str(entry["access_token"])
        where = str(entry.get("where", "file"))
        refresh_token = _load_refresh(key, where)
        if refresh_token is None:
            raise errors.Unauthorized(CORRUPTED)
        try:
            token = (refresher or _refresh)(address, namespace, refresh_token)
        except errors.Unauthorized as exc:
            raise errors.Unauthorized(REVOKED) from exc
        if where == "keyring":
            where = _store_refresh(key, token.refresh_token)
        else:
            fallback = _fallback()
            fallback[key] = token.refresh_token
            _write_json(_fallback_file(), fallback)
        data[key] = {
            "access_token": token.access_token,
            "created": token.created,
            "expiry": token.expiry,
            "where": where,
        }
        _write_json(path, data)
        return token.access_token


def _refresh(address: str, namespace: str, refresh_token: str) -> Token:
    """Auth.Token with a refresh token, over a short-lived synchronous channel."""
    from micro import _platform
    from micro._grpc import call_metadata, rpc_errors, sync_channel
    from micro.proto.auth import auth_pb2, auth_pb2_grpc

    request = auth_pb2.TokenRequest(
        refresh_token=refresh_token, options=auth_pb2.Options(namespace=namespace)
    )
    timeout = _platform.call_deadline(30.0)
    with sync_channel(address) as channel, rpc_errors(address, channel=channel, timeout=timeout):
        response = auth_pb2_grpc.AuthStub(channel).Token(
            request, metadata=call_metadata(namespace=namespace), timeout=timeout
        )
    pb = response.token
    return Token(pb.access_token, pb.refresh_token, pb.created, pb.expiry)


# -- other secrets of the user (git credentials): the keyring, else the fallback file -------


def _secret_key(name: str) -> str:
    return f"secret:{name}"  # never "<env>/<namespace>": no login shares its key


def _secret_user(name: str) -> str:
    """The keyring entry of a secret, prefixed with the home folder like a login's."""
    home = _paths.home()
    return _secret_key(name) if home == (Path.home() / ".micro") else f"{home}:{_secret_key(name)}"


def save_secret(name: str, value: str) -> str:
    """Keep ``value`` as the secret ``name`` (``micro user config set git.credentials…``) in
    the keyring, else the 0600 fallback file; returns where (``keyring`` or ``file``)."""
    with _locked():
        backend = _keyring()
        if backend is not None:
            try:
                backend.set_password(KEYRING_SERVICE, _secret_user(name), value)
            except Exception as exc:
                log.debug("keyring refused the secret, using the file fallback: %s", exc)
            else:
                _drop_fallback(_secret_key(name))
                return "keyring"
        data = _fallback()
        data[_secret_key(name)] = value
        _write_json(_fallback_file(), data)
    return "file"


def load_secret(name: str) -> str | None:
    """The secret ``name``, or None (the keyring first, then the fallback file)."""
    backend = _keyring()
    if backend is not None:
        try:
            value = backend.get_password(KEYRING_SERVICE, _secret_user(name))
        except Exception as exc:
            log.debug("keyring read failed: %s", exc)
        else:
            if value:
                return str(value)
    value = _fallback().get(_secret_key(name))
    return value if isinstance(value, str) and value else None


def forget_secret(name: str) -> bool:
    """Forget the secret ``name`` (both stores); whether there was one."""
    with _locked():
        found = False
        backend = _keyring()
        if backend is not None:
            with contextlib.suppress(Exception):
                if backend.get_password(KEYRING_SERVICE, _secret_user(name)):
                    backend.delete_password(KEYRING_SERVICE, _secret_user(name))
                    found = True
        if _secret_key(name) in _fallback():
            _drop_fallback(_secret_key(name))
            found = True
    return found
