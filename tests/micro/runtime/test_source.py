"""Preparing a source for micro run: folder or git, the entry point, the project root, what git
ignores, the size limit, the upload's chunks."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from micro import errors
from micro.runtime import source
from micro.runtime.source import BuildError, Credentials, pack


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


def test_the_same_files_pack_to_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # an unchanged project keeps its content hash, whenever it is packed (the server reuses
    # the build of a hash it has built)
    _project(tmp_path)
    first = pack(tmp_path / "svc").data
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert pack(tmp_path / "svc").data == first


def test_over_the_limit_names_the_root_and_its_size(tmp_path: Path) -> None:
    _project(tmp_path)
    (tmp_path / "svc" / "data.bin").write_bytes(b"\0" * 3 * 1024 * 1024)
    with pytest.raises(
        errors.BadRequest, match=rf"^The project at {tmp_path} is 3\.0 MiB, over the upload limit of 2 MiB"
    ):
        pack(tmp_path / "svc", limit=2 * 1024 * 1024)


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(errors.BadRequest, match="is empty"):
        pack(tmp_path / "empty")


async def test_the_upload_is_the_archive_in_blob_sized_chunks() -> None:
    from micro.store.blob import CHUNK_BYTES

    data = bytes(range(256)) * (CHUNK_BYTES // 128 + 1)  # two chunks and a bit
    pieces = [piece async for piece in source.chunks(data)]
    assert [len(p) for p in pieces] == [CHUNK_BYTES, CHUNK_BYTES, len(data) - 2 * CHUNK_BYTES]
    assert b"".join(pieces) == data


def test_a_folder_wins_named_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "helloworld").mkdir()

    def never() -> str:
        raise AssertionError("git.baseurl is read only for a source that is no folder")

    assert source.locate("helloworld", baseurl=never) == Path("helloworld")


def test_git_and_bare_names_under_the_baseurl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for git in ("https://github.com/org/repo/sub@v1", "git@host:org/repo.git", "file:///srv/repo"):
        assert source.locate(git) == git
    assert (
        source.locate("hello/sub@v1", baseurl=lambda: "https://forge/org/")
        == "https://forge/org/hello/sub@v1"
    )
    assert (
        source.locate("hello/sub@release/1.2", baseurl=lambda: "file:///srv")
        == "file:///srv/hello/sub@release/1.2"
    )
    with pytest.raises(errors.BadRequest, match=r"^Source folder hello does not exist$"):
        source.locate("hello")  # no baseurl: a bare name is a folder that is not there
    with pytest.raises(errors.BadRequest, match=r"^Source folder /srv/nope does not exist$"):
        source.locate("/srv/nope", baseurl=lambda: "https://forge/org")  # a path is no bare name
    for typo in ("./typo", "../typo", "hello/../typo", "hello/./sub"):  # nor a relative one
        with pytest.raises(errors.BadRequest, match=rf"^Source folder {re.escape(typo)} does not exist$"):
            source.locate(typo, baseurl=lambda: "https://forge/org")


def test_a_path_into_a_repository_is_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "repo" / "services").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    monkeypatch.chdir(tmp_path)
    assert source.is_git("./repo/services/gone@v2")  # the subfolder need not exist here
    assert source.local_repository(tmp_path / "repo" / "services") == (tmp_path / "repo", "services")
    assert not source.is_git("./elsewhere")
    assert not source.is_git("repo")  # a bare name is no path
    assert source.split_ref("./repo/services@feature/x") == ("./repo/services", "feature/x")
    (tmp_path / "repo" / "me@home" / "svc").mkdir(parents=True)  # a folder with an @ is no ref
    assert source.split_ref("./repo/me@home/svc") == ("./repo/me@home/svc", "")


@pytest.mark.parametrize(
    ("text", "name", "ref"),
    [
        ("https://github.com/org/repo", "repo", ""),
        ("https://github.com/org/repo.git@main", "repo", "main"),
        ("https://github.com/org/repo/services/billing@v1.2", "billing", "v1.2"),
        ("git@host:org/repo.git", "repo", ""),
        ("git@host:repo", "repo", ""),  # the @ of user@host is no ref
        ("https://user@host/org/repo/", "repo", ""),
        # a ref with folders: a branch feature/x, a tag release/1.2
        ("file:///srv/repo@feature/x", "repo", "feature/x"),
        ("https://user:pw@host/org/repo/sub@release/1.2", "sub", "release/1.2"),
        ("git@host:org/repo.git@feature/x", "repo", "feature/x"),
        ("hello/sub@release/1.2", "sub", "release/1.2"),
        ("https://host/org/repo@feature/", "repo@feature", ""),  # no empty folder, no option
        ("https://host/org/repo@-x", "repo@-x", ""),
    ],
)
def test_the_default_name_and_ref_of_a_git_source(text: str, name: str, ref: str) -> None:
    assert source.git_name(text) == name
    assert source.split_ref(text)[1] == ref


def test_the_credentials_of_a_url_come_out_unquoted() -> None:
    bare, found = source.split_credentials("https://me:p%40ss@host/org/repo")
    assert (bare, found) == ("https://host/org/repo", Credentials("me", "p@ss"))
    assert "p@ss" not in repr(found)
    assert source.split_credentials("git@host:org/repo") == ("git@host:org/repo", Credentials())
    assert not Credentials()


def test_the_entry_point_main_py_then_pyproject_then_a_package(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__main__.py").write_text("")
    assert source.entry_point(tmp_path) == ["-m", "pkg"]
    (tmp_path / "main.py").write_text("")
    assert source.entry_point(tmp_path) == ["main.py"]
    (tmp_path / "pyproject.toml").write_text("[tool.micro]\nentrypoint = 'serve.py'\n")
    with pytest.raises(BuildError, match=r"^the entry point serve\.py of pyproject\.toml does not exist$"):
        source.entry_point(tmp_path)
    (tmp_path / "serve.py").write_text("")
    assert source.entry_point(tmp_path) == ["serve.py"]
    (tmp_path / "pyproject.toml").write_text("[tool.micro]\nentrypoint = 'app.server'\n")
    assert source.entry_point(tmp_path) == ["-m", "app.server"]
    (tmp_path / "pyproject.toml").write_text("[tool.micro\n")
    with pytest.raises(BuildError, match=r"^pyproject\.toml is not valid TOML"):
        source.entry_point(tmp_path)


def test_a_folder_that_cannot_run_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("empty").mkdir()
    Path("nomain").mkdir()
    Path("nomain", "README.md").write_text("no code here\n")
    with pytest.raises(errors.BadRequest) as empty:
        source.check_runnable(Path("empty"))
    assert empty.value.detail == "Source folder empty is empty"
    with pytest.raises(errors.BadRequest) as nomain:
        source.check_runnable(Path("nomain"))
    assert nomain.value.detail == (
        "Cannot run nomain: no entry point: main.py, [tool.micro] entrypoint in pyproject.toml "
        "or a package's __main__.py"
    )
    assert type(nomain.value) is errors.BadRequest  # the CLI's 400 line, not a build's state
    Path("nomain", "main.py").write_text("")
    source.check_runnable(Path("nomain"))
