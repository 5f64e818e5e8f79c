"""Unpacking an uploaded source on the server: what the packer makes comes out whole, and an
archive made to escape its folder is refused (with or without ``tarfile``'s ``filter``,
which Python 3.11 before 3.11.4 lacks)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from micro.runtime.source import BuildError, pack
from server.runtime._build import _extract


def _archive(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _file(name: str, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info


def test_a_packed_folder_comes_out_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # as on Python 3.11.2 (Debian 12): extractall takes no filter
    plain = tarfile.TarFile.extractall

    def old_extractall(self: tarfile.TarFile, path: str = ".", members: object = None) -> None:
        plain(self, path, members)  # type: ignore[arg-type]

    monkeypatch.setattr(tarfile.TarFile, "extractall", old_extractall)
    source = tmp_path / "svc"
    (source / "pkg").mkdir(parents=True)
    (source / "main.py").write_text("print('hi')\n")
    (source / "pkg" / "run.sh").write_text("#!/bin/sh\n")
    (source / "pkg" / "run.sh").chmod(0o755)
    for made in (source / "main.py", source / "pkg" / "run.sh"):
        os.utime(made, (1_600_000_000, 1_600_000_000))
    archive = tmp_path / "source.tar.gz"
    archive.write_bytes(pack(source).data)
    _extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "main.py").read_text() == "print('hi')\n"
    assert (tmp_path / "out" / "pkg" / "run.sh").stat().st_mode & stat.S_IXUSR
    # the times as packed (the build regenerates code older than its .proto)
    assert int((tmp_path / "out" / "main.py").stat().st_mtime) == int((source / "main.py").stat().st_mtime)


@pytest.mark.parametrize(
    "member",
    [
        (_file("../escape.py"), b"x"),
        (_file("/etc/escape.py"), b"x"),
        (_file("a/../../escape.py"), b"x"),
    ],
)
def test_a_file_outside_the_folder_is_refused(tmp_path: Path, member: tuple[tarfile.TarInfo, bytes]) -> None:
    archive = _archive(tmp_path / "bad.tar.gz", member)
    (tmp_path / "out").mkdir()
    with pytest.raises(BuildError, match="outside its folder"):
        _extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.py").exists()


def test_links_and_special_files_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive = _archive(tmp_path / "link.tar.gz", (link, b""))
    with pytest.raises(BuildError, match="link or special file"):
        _extract(archive, tmp_path / "out")


def test_set_id_bits_are_not_kept(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "suid.tar.gz", (_file("tool", 0o4755), b"#!/bin/sh\n"))
    _extract(archive, tmp_path / "out")
    mode = (tmp_path / "out" / "tool").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID) and mode & stat.S_IXUSR
