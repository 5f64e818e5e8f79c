"""Packing a project for micro run: the root, what git ignores, the size limit."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from commands._output import Failure
from commands._pack import pack


def _names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return set(tar.getnames())


def _project(root: Path) -> None:
    (root / "svc" / "__pycache__").mkdir(parents=True)
    (root / "svc" / "main.py").write_text("print('hi')\n")
    (root / "svc" / "secret.env").write_text("X=1\n")
    (root / "svc" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"x")
    (root / ".venv").mkdir()
    (root / ".venv" / "big").write_bytes(b"x")
    (root / "pyproject.toml").write_text("[project]\nname='x'\n")
    (root / ".gitignore").write_text("*.env\n")


def test_the_root_without_git_follows_gitignore(tmp_path: Path) -> None:
    _project(tmp_path)
    packed = pack(tmp_path / "svc")
    assert packed.root == tmp_path
    assert packed.subfolder == "svc"
    assert _names(packed.data) == {".gitignore", "pyproject.toml", "svc/main.py"}


def test_a_git_work_tree_packs_what_git_lists(tmp_path: Path) -> None:
    _project(tmp_path)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    packed = pack(tmp_path / "svc")
    assert _names(packed.data) == {".gitignore", "pyproject.toml", "svc/main.py"}


def test_over_the_limit_names_the_root_and_its_size(tmp_path: Path) -> None:
    _project(tmp_path)
    (tmp_path / "svc" / "data.bin").write_bytes(b"\0" * 3 * 1024 * 1024)
    with pytest.raises(
        Failure, match=rf"The project at {tmp_path} is 3\.0 MiB, over the upload limit of 2 MiB"
    ):
        pack(tmp_path / "svc", limit=2 * 1024 * 1024)


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(Failure, match="is empty"):
        pack(tmp_path / "empty")
