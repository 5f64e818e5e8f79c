"""Client credentials: the keyring path (a real file-backed backend in the test's folder),
the 0600 file fallback when no backend works, MICRO_TOKEN, silent refresh."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.core
import pytest

from micro import credentials, errors
from micro.auth import Token


def jwt_like(sub: str, exp: int) -> str:
    def seg(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{seg({'alg': 'EdDSA'})}.{seg({'sub': sub, 'exp': exp, 'iss': 'micro'})}.sig"


def token(sub: str = "admin", *, ttl: int = 900, refresh: str = "r1") -> Token:
    now = int(time.time())
    return Token(jwt_like(sub, now + ttl), refresh, now, now + ttl)


@pytest.fixture(params=["keyring", "file"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "file":
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)  # pick the backend again
    yield request.param
    keyring.core._keyring_backend = None


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_save_puts_the_refresh_token_in_the_keyring_or_the_private_file(
    backend: str, micro_home: Path
) -> None:
    assert credentials.save("local", "micro", token(refresh="secret-refresh")) == backend
    tokens = micro_home / "tokens.json"
    assert mode(tokens) == 0o600
    assert "secret-refresh" not in tokens.read_text()
    fallback = micro_home / "credentials.json"
    if backend == "keyring":
        assert keyring.get_password("micro", credentials.keyring_user("local", "micro")) == "secret-refresh"
        assert not fallback.exists()
    else:
        assert mode(fallback) == 0o600
        assert json.loads(fallback.read_text()) == {"local/micro": "secret-refresh"}


def test_fresh_token_is_served_from_the_cache(backend: str) -> None:
    saved = token()
    credentials.save("local", "micro", saved)

    def refresher(address: str, namespace: str, refresh: str) -> Token:
        raise AssertionError("a fresh token must not be refreshed")

    assert credentials.access_token("local", "micro", "x:1", refresher=refresher) == saved.access_token
    assert credentials.access_token("local", "other", "x:1", refresher=refresher) is None
    assert credentials.logged_in("local") == ["micro"]


def test_expiring_token_is_refreshed_and_the_refresh_token_rotated(backend: str, micro_home: Path) -> None:
    credentials.save("local", "micro", token(ttl=-5, refresh="old"))
    calls: list[tuple[str, str, str]] = []
    new = token(refresh="new")

    def refresher(address: str, namespace: str, refresh: str) -> Token:
        calls.append((address, namespace, refresh))
        return new

    assert credentials.access_token("local", "micro", "x:1", refresher=refresher) == new.access_token
    assert calls == [("x:1", "micro", "old")]
    # the rotated refresh token is what the next refresh uses
    assert credentials.access_token("local", "micro", "x:1", refresher=refresher) == new.access_token
    if backend == "keyring":
        assert keyring.get_password("micro", credentials.keyring_user("local", "micro")) == "new"
    else:
        assert json.loads((micro_home / "credentials.json").read_text()) == {"local/micro": "new"}


def test_revoked_login_asks_to_log_in(backend: str) -> None:
    credentials.save("local", "micro", token(ttl=-5))

    def refresher(address: str, namespace: str, refresh: str) -> Token:
        raise errors.Unauthorized("invalid refresh token")

    with pytest.raises(errors.Unauthorized, match="run 'micro login'"):
        credentials.access_token("local", "micro", "x:1", refresher=refresher)


@pytest.mark.parametrize(
    "content", ["{not json", '{"local/micro": {"access_token": "garbage", "expiry": 1}}']
)
def test_corrupted_cache_asks_to_log_in_and_login_still_works(content: str, micro_home: Path) -> None:
    micro_home.mkdir(parents=True, exist_ok=True)
    (micro_home / "tokens.json").write_text(content)
    with pytest.raises(errors.Unauthorized, match=r"^the stored login is corrupted; run 'micro login'$"):
        credentials.access_token("local", "micro", "x:1")
    saved = token()
    credentials.save("local", "micro", saved)
    assert credentials.access_token("local", "micro", "x:1") == saved.access_token


def test_micro_token_overrides_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    credentials.save("local", "micro", token())
    monkeypatch.setenv("MICRO_TOKEN", "from-env")
    assert credentials.access_token("local", "micro", "x:1") == "from-env"


def test_forget_removes_both_tokens(backend: str, micro_home: Path) -> None:
    credentials.save("local", "micro", token(refresh="gone"))
    credentials.forget("local", "micro")
    assert credentials.access_token("local", "micro", "x:1") is None
    if backend == "keyring":
        assert keyring.get_password("micro", credentials.keyring_user("local", "micro")) is None
    if (micro_home / "credentials.json").exists():
        assert "gone" not in (micro_home / "credentials.json").read_text()


def test_ordinary_commands_never_import_keyring(micro_home: Path) -> None:
    credentials.save("local", "micro", token())
    code = (
        "import sys; from micro import credentials;"
        "assert credentials.access_token('local', 'micro', 'x:1');"
        "assert 'keyring' not in sys.modules, 'keyring imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))


@pytest.mark.parametrize("content", ["{not json", "[1]"])
def test_corrupted_fallback_file_does_not_block_a_new_login(
    backend: str, content: str, micro_home: Path
) -> None:
    """A damaged credentials.json once told every ``micro login`` to run ``micro login``."""
    micro_home.mkdir(parents=True, exist_ok=True)
    fallback = micro_home / "credentials.json"
    fallback.write_text(content)
    saved = token(refresh="fresh")
    assert credentials.save("local", "micro", saved) == backend
    assert credentials.access_token("local", "micro", "x:1") == saved.access_token
    if backend == "file":
        assert json.loads(fallback.read_text()) == {"local/micro": "fresh"}
        assert mode(fallback) == 0o600
    credentials.forget("local", "micro")
    assert credentials.access_token("local", "micro", "x:1") is None
