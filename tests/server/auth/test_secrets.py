"""How account secrets are kept: scrypt for every secret a person chose, a salted SHA-256 for
the 192-bit ones the server generates (nobody can guess those; the runtime makes one per run)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from micro import errors
from micro.store.memory import MemoryStore
from server.auth.stored import GENERATED, StoredAuth


async def _record(auth: StoredAuth, id: str) -> dict[str, Any]:
    data = await auth._get("accounts", f"micro/{id}")
    assert data is not None
    return data


def _scrypt(secret: str, data: dict[str, Any]) -> str:
    salt = bytes.fromhex(data["salt"])
    return hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32).hex()


async def test_generated_secrets_are_hashed_fast_and_chosen_ones_with_scrypt(tmp_path: Path) -> None:
    auth = StoredAuth(MemoryStore(), tmp_path / "server", disable_admin=True)
    await auth.start()
    generated = await auth.generate("svc", type="service", namespace="micro")
    chosen = await auth.generate("alice", secret="correct horse", namespace="micro")

    data = await _record(auth, "svc")
    assert data["kdf"] == GENERATED
    assert data["hash"] == hashlib.sha256(bytes.fromhex(data["salt"]) + generated.secret.encode()).hexdigest()
    assert "kdf" not in await _record(auth, "alice")
    assert (await _record(auth, "alice"))["hash"] == _scrypt("correct horse", await _record(auth, "alice"))

    assert (await auth.token(id="svc", secret=generated.secret, namespace="micro")).access_token
    assert (await auth.token(id="alice", secret=chosen.secret, namespace="micro")).access_token
    for id, wrong in (("svc", generated.secret + "x"), ("alice", "wrong"), ("nobody", "x")):
        with pytest.raises(errors.Unauthorized):
            await auth.token(id=id, secret=wrong, namespace="micro")

    # a secret someone sets later is one they chose: scrypt from then on
    await auth.change_secret("svc", generated.secret, "my own secret", namespace="micro")
    data = await _record(auth, "svc")
    assert "kdf" not in data and data["hash"] == _scrypt("my own secret", data)
    assert (await auth.token(id="svc", secret="my own secret", namespace="micro")).access_token
    with pytest.raises(errors.Unauthorized):
        await auth.token(id="svc", secret=generated.secret, namespace="micro")
