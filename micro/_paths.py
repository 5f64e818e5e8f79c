"""Every user path micro reads or writes, in one place.

All state lives under ``MICRO_HOME`` (default ``~/.micro``), created 0700.
"""

from __future__ import annotations

import os
from pathlib import Path

from micro import errors, settings

__all__ = [
    "cache_dir",
    "config_file",
    "ensure_private_dir",
    "home",
    "logs_dir",
    "runtime_dir",
    "server_dir",
    "write_private",
]


def ensure_private_dir(path: Path) -> Path:
    """``path`` as a folder (created 0700 when missing); one that cannot be is a BadRequest
    naming it (``MICRO_HOME`` pointing at a file was a FileExistsError and exit 127)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise errors.BadRequest(f"cannot use {path}: not a folder") from None
    except OSError as exc:
        raise errors.BadRequest(f"cannot create the folder {path}: {exc.strerror or exc}") from exc
    return path


def home() -> Path:
    """``MICRO_HOME`` or ``~/.micro``, created 0700 on first use."""
    raw = settings.paths().home or str(Path.home() / ".micro")
    return ensure_private_dir(Path(raw).expanduser())


def config_file() -> Path:
    """Environments and the current namespace."""
    return home() / "config.json"


def server_dir() -> Path:
    """The server's data: store, events, keys, lock, pid and log."""
    return ensure_private_dir(home() / "server")


def logs_dir(namespace: str | None = None) -> Path:
    base = home() / "logs"
    return ensure_private_dir(base / namespace if namespace else base)


def runtime_dir() -> Path:
    return ensure_private_dir(home() / "runtime")


def cache_dir() -> Path:
    return ensure_private_dir(home() / "cache")


def write_private(path: Path, data: str | bytes) -> None:
    """Write a file readable only by its owner (0600), atomically."""
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, raw)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
