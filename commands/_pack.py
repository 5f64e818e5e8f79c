"""Packing a local source for ``micro run`` and ``micro update``: the project root as a tar.gz.

The root is the nearest folder, from the service's folder up, with ``.git`` or
``pyproject.toml`` (the service's folder itself when there is none); the service runs from
its folder inside it (the *subfolder*). What git ignores is left out: the files are those of
``git ls-files -co --exclude-standard`` in a git work tree, else the folder walked with the
``.gitignore`` rules it holds; ``.git/``, ``.venv/`` and ``__pycache__/`` never go.
"""

from __future__ import annotations

import fnmatch
import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from commands._output import Failure

__all__ = ["LIMIT", "Packed", "find_root", "pack"]

LIMIT = 100 * 1024 * 1024
_ALWAYS_OUT = {".git", ".venv", "__pycache__"}


@dataclass
class Packed:
    root: Path
    subfolder: str  # the service's folder inside root ("" = root), with "/"
    data: bytes  # the tar.gz
    files: int


def find_root(folder: Path) -> Path:
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists() or (candidate / "pyproject.toml").is_file():
            return candidate
    return folder


def _git_files(root: Path) -> list[str] | None:
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-co", "--exclude-standard", "-z"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [name for name in done.stdout.decode(errors="surrogateescape").split("\0") if name]


def _ignored(rel: str, is_dir: bool, rules: list[tuple[str, list[str]]]) -> bool:
    """Whether ``rel`` (relative to the root, with /) matches a .gitignore rule (the last
    matching rule wins; ``!`` negates)."""
    verdict = False
    for base, patterns in rules:
        if base and not rel.startswith(base + "/"):
            continue
        local = rel[len(base) + 1 :] if base else rel
        name = local.rsplit("/", 1)[-1]
        for raw in patterns:
            negate = raw.startswith("!")
            pattern = raw[1:] if negate else raw
            if pattern.endswith("/"):
                if not is_dir:
                    continue
                pattern = pattern.rstrip("/")
            anchored = "/" in pattern
            target = local if anchored else name
            if fnmatch.fnmatchcase(target, pattern.lstrip("/")):
                verdict = not negate
    return verdict


def _walk_files(root: Path) -> list[str]:
    rules: list[tuple[str, list[str]]] = []
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        base = "" if here == root else here.relative_to(root).as_posix()
        ignore = here / ".gitignore"
        if ignore.is_file():
            lines = [
                line.strip()
                for line in ignore.read_text(errors="replace").splitlines()
                if line.strip() and not line.startswith("#")
            ]
            rules.append((base, lines))
        kept = []
        for d in sorted(dirnames):
            rel = f"{base}/{d}" if base else d
            if d in _ALWAYS_OUT or _ignored(rel, True, rules):
                continue
            kept.append(d)
        dirnames[:] = kept
        for f in sorted(filenames):
            rel = f"{base}/{f}" if base else f
            if not _ignored(rel, False, rules):
                found.append(rel)
    return found


def pack(folder: Path, limit: int = LIMIT) -> Packed:
    """Pack the project of ``folder``.

    Raises:
        Failure: the folder does not exist or is empty, or the files are over ``limit``.
    """
    if not folder.is_dir():
        raise Failure(f"Source folder {folder} does not exist")
    folder = folder.resolve()
    root = find_root(folder)
    names = _git_files(root)
    if names is None:
        names = _walk_files(root)
    names = [
        n
        for n in names
        if not _ALWAYS_OUT.intersection(n.split("/")[:-1])
        and (root / n).is_file()
        and not (root / n).is_symlink()
    ]
    subfolder = "" if folder == root else folder.relative_to(root).as_posix()
    inside = [n for n in names if not subfolder or n.startswith(subfolder + "/")]
    if not inside:
        raise Failure(f"Source folder {folder} is empty (or every file in it is ignored)")
    total = sum((root / n).stat().st_size for n in names)
    if total > limit:
        raise Failure(
            f"The project at {root} is {total / (1024 * 1024):.1f} MiB, over the upload limit of "
            f"{limit // (1024 * 1024)} MiB (add what the service does not need to .gitignore)"
        )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for name in names:
            tar.add(root / name, arcname=name, recursive=False)
    data = buffer.getvalue()
    if len(data) > limit:
        raise Failure(
            f"The project at {root} packs to {len(data) / (1024 * 1024):.1f} MiB, over the upload limit"
        )
    return Packed(root=root, subfolder=subfolder, data=data, files=len(names))
