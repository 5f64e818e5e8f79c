"""``micro run``, ``update``, ``kill``, ``status`` and ``logs`` end to end: the real CLI
against a real ``micro server`` that builds and supervises the services.

The server has a ``MICRO_HOME`` of its own and the CLI another, and the services' folders are
in the test's folder: the server only ever sees what the CLI uploaded. Process ids come from
the runtime's own log lines (``instance N started (pid P)``), so the tests can check that no
process of a service outlives ``kill``, a server stop or a server ``kill -9``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._poll import eventually_sync
from tests.e2e.conftest import MICRO, START_SECONDS, MicroServer, Runner, launch_server, one_line, run_micro

# builds and starts take a while on a loaded machine; the tests wait on conditions, not time
SLOW = 90.0
_PID = re.compile(r"instance \d+ started \(pid (\d+)\)")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``micro new helloworld`` folder, made once per module and copied by each test."""
    parent = tmp_path_factory.mktemp("template")
    env = {**os.environ, "MICRO_HOME": str(parent / "home")}
    done = subprocess.run(
        [MICRO, "new", "helloworld"], cwd=parent, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return parent / "helloworld"


def service_folder(template: Path, where: Path, name: str = "helloworld") -> Path:
    folder = where / name
    shutil.copytree(template, folder)
    return folder


def status_rows(micro: Runner, name: str = "") -> dict[str, dict[str, object]]:
    result = micro("status", *([name] if name else []), "-o", "json")
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def wait_status(micro: Runner, name: str, wanted: str, timeout: float = SLOW) -> dict[str, object]:
    found: dict[str, object] = {}

    def reached() -> bool:
        found.update(status_rows(micro).get(name, {}))
        return found.get("status") == wanted

    eventually_sync(reached, f"{name} is {wanted} (last seen {found})", timeout=timeout, interval=0.2)
    return found


def pids(micro: Runner, name: str) -> list[int]:
    result = micro("logs", name, "-n", "-1")
    assert result.returncode == 0, result.stderr
    return [int(m.group(1)) for m in _PID.finditer(result.stdout)]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie no one reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def all_gone(found: list[int], what: str) -> None:
    assert found, f"no process ids of {what} in its logs"
    eventually_sync(lambda: not any(alive(p) for p in found), f"every process of {what} ended", timeout=30)


def test_run_call_update_logs_kill(
    micro: Runner, shared_server: MicroServer, template: Path, tmp_path: Path
) -> None:
    builds = shared_server.home / "runtime" / "builds" / "micro" / "helloworld"
    folder = service_folder(template, tmp_path)
    run = micro("run", "--wait", ".", cwd=folder, timeout=SLOW)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    row = status_rows(micro)["helloworld"]
    assert (row["status"], row["version"], row["source"]) == ("running", "latest", str(folder))
    assert row["metadata"] == {"owner": "admin", "group": "micro"}
    text = micro("status").stdout
    assert re.search(r"helloworld\s+latest\s+\S+\s+running\s+\w{12}\s+.*owner=admin, group=micro", text), text
    assert "helloworld" in micro("services").stdout.split()
    assert json.loads(micro("helloworld", "call", "--name=Joe").stdout) == {"msg": "Hello Joe"}
    assert "Listening on" in micro("logs", "helloworld").stdout
    first = pids(micro, "helloworld")

    handler = folder / "handler.py"
    handler.write_text(handler.read_text().replace('f"Hello {', 'f"Hi {'))
    update = micro("update", ".", "--wait", cwd=folder, timeout=SLOW)
    assert update.returncode == 0, update.stderr
    assert json.loads(micro("helloworld", "call", "--name=Joe").stdout) == {"msg": "Hi Joe"}
    all_gone(first, "the first build")
    # the first build's unpacked folder goes once the update runs: only the running one stays
    eventually_sync(lambda: len(list(builds.iterdir())) == 1, "one build of helloworld left", timeout=30)

    ndjson = micro("logs", "helloworld", "-o", "json", "-n", "5").stdout.splitlines()
    records = [json.loads(line) for line in ndjson]
    assert len(records) == 5
    # compact, as every streaming command's NDJSON
    assert ndjson == [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records]
    assert all(set(r) == {"ts", "stream", "instance", "line"} for r in records)
    stamped = micro("logs", "helloworld", "--timestamps", "-n", "1").stdout
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ", stamped), stamped

    running = pids(micro, "helloworld")
    # NAME@version names that version: another one is not found, and the one that runs stays
    other = micro("kill", "helloworld@v9")
    assert (other.returncode, one_line(other.stderr)) == (1, "Service helloworld@v9 not found")
    assert micro("status", "helloworld@v9").returncode == 1
    assert "running" in micro("status", "helloworld@latest").stdout
    kill = micro("kill", "helloworld@latest")
    assert (kill.returncode, kill.stdout) == (0, "")
    assert "helloworld" not in status_rows(micro)
    assert "helloworld" not in micro("services").stdout.split()
    all_gone(running, "helloworld")
    assert "Listening on" in micro("logs", "helloworld", "-n", "-1").stdout  # the logs stay
    accounts = micro("auth", "list", "accounts").stdout
    assert "helloworld-latest" not in accounts
    assert not builds.exists()  # nothing of it is left on the server's disk but its logs


def test_logs_follow_prints_new_lines(
    micro: Runner, shared_server: MicroServer, template: Path, tmp_path: Path
) -> None:
    folder = service_folder(template, tmp_path, "follower")
    handler = folder / "handler.py"
    # each call prints a line the follower must see
    text = re.sub(
        r"(async def Call\(.*\n)", r"\1        print('called by', request.name)\n", handler.read_text()
    )
    handler.write_text(text)
    assert "print('called by'" in handler.read_text()
    assert micro("run", "--wait", str(folder), timeout=SLOW).returncode == 0
    env = {**os.environ, "MICRO_PROXY": shared_server.address}
    token = shared_server.token()
    if token:
        env["MICRO_TOKEN"] = token
    proc = subprocess.Popen(
        [MICRO, "logs", "follower", "-f", "-n", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:

        def seen() -> bool:
            micro("call", "follower", "Helloworld.Call", '{"name":"Ann"}')
            return any("called by Ann" in line for line in lines)

        eventually_sync(seen, "micro logs -f printed the line the service wrote", timeout=30, interval=0.3)
        # Ctrl-C ends the follow at once and quietly (it once only cancelled an event loop
        # task the blocked stream never gave back to, and the follow went on)
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            pytest.fail("micro logs -f did not end on Ctrl-C (SIGINT) within 10 s")
        assert proc.stderr is not None
        assert code == 0 and "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        reader.join(5)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
        micro("kill", "follower")


def test_env_vars_instances_and_the_name_from_the_folder(
    micro: Runner, template: Path, tmp_path: Path
) -> None:
    # a folder hello2 whose code says micro.Service("helloworld") registers as hello2
    folder = service_folder(template, tmp_path, "hello2")
    main = folder / "main.py"
    main.write_text(
        main.read_text().replace(
            "def main() -> None:\n",
            "def main() -> None:\n    import os\n    print('greeting', os.environ.get('GREETING'))\n",
        )
    )
    run = micro(
        "run", "--wait", "--instances", "2", "--env-vars", "GREETING=hey,OTHER=1", str(folder), timeout=SLOW
    )
    assert run.returncode == 0, run.stderr
    log = micro("logs", "hello2", "-n", "-1", "-o", "json").stdout
    records = [json.loads(line) for line in log.splitlines()]
    greetings = {r["instance"] for r in records if r["line"] == "greeting hey"}
    assert greetings == {0, 1}
    assert any(
        "Registered as hello2 (MICRO_SERVICE_NAME) instead of helloworld" in r["line"] for r in records
    )
    detail = micro("get", "service", "hello2").stdout
    nodes = re.findall(r"^hello2-\w+\s+127\.0\.0\.1:\d+", detail, flags=re.M)
    assert len(nodes) == 2, detail
    assert "helloworld" not in micro("services").stdout.split()
    both = pids(micro, "hello2")
    micro("kill", "hello2")
    all_gone(both, "hello2")


def test_command_and_args_replace_the_entry_point(micro: Runner, template: Path, tmp_path: Path) -> None:
    """v3's ``--command`` and ``--args``: a folder without ``main.py`` runs with the command
    given (its ``python`` is the service's venv), the arguments split as a shell would."""
    folder = service_folder(template, tmp_path, "cmdsvc")
    main = folder / "main.py"
    (folder / "serve.py").write_text(
        "import sys\nprint('argv', sys.argv[1:], sys.prefix)\n" + main.read_text()
    )
    main.unlink()
    run = micro(
        "run",
        "--wait",
        "--command",
        "python serve.py",
        "--args",
        "--greeting 'a b'",
        str(folder),
        timeout=SLOW,
    )
    assert run.returncode == 0, run.stderr
    printed = [
        line for line in micro("logs", "cmdsvc", "-n", "-1").stdout.splitlines() if line.startswith("argv")
    ]
    assert printed and printed[0].startswith("argv ['--greeting', 'a b'] "), printed
    assert "/runtime/venvs/" in printed[0]  # the venv's python, not the platform's
    assert json.loads(micro("cmdsvc", "call", "--name=Cy").stdout) == {"msg": "Hello Cy"}
    micro("kill", "cmdsvc")
    unclosed = micro("run", "--command", "python 'serve.py", str(folder))
    assert (unclosed.returncode, one_line(unclosed.stderr)) == (
        1,
        'Invalid --command "python \'serve.py": No closing quotation',
    )


BAD_RUNS = [
    (("nosuch",), "Source folder nosuch does not exist"),
    (("empty",), "Source folder empty is empty"),
    (("nomain",), "no entry point"),
    (("--instances", "0", "svc"), "Invalid --instances 0"),
    (("--instances", "-2", "svc"), "Invalid --instances -2"),
    (("--env-vars", "FOO", "svc"), "Invalid --env-vars 'FOO'"),
    (("--name", "a b", "svc"), "Invalid service name 'a b'"),
    (("--name", "a/b", "svc"), "Invalid service name 'a/b'"),
    (("My_Svc",), "starting with a letter (the folder's name: give another with --name)"),
    (("--name", "store", "svc"), "taken by a core service"),
]


def test_bad_input_is_one_line_and_leaves_nothing(micro: Runner, template: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "nomain").mkdir()
    (tmp_path / "nomain" / "README.md").write_text("no code here\n")
    service_folder(template, tmp_path, "svc")
    service_folder(template, tmp_path, "My_Svc")
    before = micro("auth", "list", "accounts").stdout
    for args, message in BAD_RUNS:
        result = micro("run", *args, cwd=tmp_path)
        assert result.returncode == 1, args
        assert message in one_line(result.stderr), args
    assert not {"svc", "nomain", "empty", "nosuch", "store", "a"} & set(status_rows(micro))
    assert micro("auth", "list", "accounts").stdout == before
    for path in ("./nosuch", "../nosuch/svc"):  # a path, not a service's name
        result = micro("update", path, cwd=tmp_path)
        assert (result.returncode, one_line(result.stderr)) == (1, f"Source folder {path} does not exist")


def test_a_folder_is_refused_without_the_server_s_code_or_grpc(tmp_path: Path) -> None:
    """The checks of a folder are the framework's (micro.runtime.source): refusing one loads
    neither grpc nor the server's modules, and needs no server."""
    (tmp_path / "nomain").mkdir()
    (tmp_path / "nomain" / "README.md").write_text("no code here\n")
    probe = (
        "import sys\n"
        "from commands.main import run\n"
        "codes = [run(['run', 'nosuch']), run(['run', 'nomain']), run(['update', 'nomain'])]\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'grpc', 'google', 'server'})\n"
        "print(codes, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.stdout.strip().splitlines()[-1] == "[1, 1, 1] []", result.stderr
    assert result.stderr.splitlines() == [
        "Source folder nosuch does not exist",
        *["Cannot run nomain: no entry point: main.py, [tool.micro] entrypoint in pyproject.toml "
          "or a package's __main__.py"] * 2,
    ]  # fmt: skip


def test_broken_services_go_to_error_with_the_reason(micro: Runner, tmp_path: Path, template: Path) -> None:
    syntax = service_folder(template, tmp_path, "syntax")
    (syntax / "handler.py").write_text("def broken(:\n")
    imports = service_folder(template, tmp_path, "imports")
    (imports / "handler.py").write_text("import nosuchmodule_at_all\n")
    requirements = service_folder(template, tmp_path, "requirements")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (requirements / "requirements.txt").write_text(
        f"--no-index\n--find-links {wheels}\nnosuch-package-xyz==1.0\n"
    )
    for folder, reason in (
        (syntax, "SyntaxError"),
        (imports, "No module named 'nosuchmodule_at_all'"),
        (requirements, "installing requirements.txt failed"),
    ):
        result = micro("run", "--wait", str(folder), timeout=SLOW)
        assert result.returncode == 1
        assert reason in one_line(result.stderr)
        row = status_rows(micro)[folder.name]
        assert row["status"] == "error"
        assert reason in str(row["error"])
        assert f"error={row['error']}" in micro("status", folder.name).stdout
        assert reason in micro("logs", folder.name, "-n", "-1").stdout
        again = micro("run", str(folder))  # in error, not "already running"
        name = folder.name
        assert one_line(again.stderr) == (
            f"Service {name} already exists (error): micro update {name}, or micro kill {name}"
        )
        micro("kill", folder.name)


def test_a_crashing_service_is_restarted_then_left_in_error(
    own_server: list[MicroServer], template: Path, tmp_path: Path
) -> None:
    """Restarts follow the server's settings (4 retries, waits capped at 1 s), and while a
    crashed instance is missing the service is ``starting`` with the crash and the next
    attempt, never ``running``."""
    server = launch_server(
        tmp_path / "server-home",
        settings={"MICRO_RUNTIME_MAX_RETRIES": "4", "MICRO_RUNTIME_BACKOFF_CAP": "1"},
    )
    own_server.append(server)

    def micro(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return run_micro(*args, server=server, **kwargs)  # type: ignore[arg-type]

    crasher = service_folder(template, tmp_path, "crasher")
    # registers, then dies a moment later: every time it is started
    (crasher / "main.py").write_text(
        "import asyncio, logging, os\n"
        "import micro\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from handler import Helloworld\n"
        "async def main():\n"
        "    service = micro.Service('helloworld')\n"
        "    service.handle(Helloworld())\n"
        "    await service.start()\n"
        "    os._exit(3)\n"
        "asyncio.run(main())\n"
    )
    # registers and dies the first time; started again, it waits for the gate to register
    flaky = service_folder(template, tmp_path, "flaky")
    runs, gate = tmp_path / "flaky-runs", tmp_path / "flaky-gate"
    os.mkfifo(gate)
    (flaky / "main.py").write_text(
        "import asyncio, os, pathlib\n"
        "import micro\n"
        "from handler import Helloworld\n"
        f"runs, gate = pathlib.Path({str(runs)!r}), pathlib.Path({str(gate)!r})\n"
        "first = not runs.exists()\n"
        "runs.touch()\n"
        "if not first:\n"
        "    gate.read_text()  # a FIFO: open() waits until the test opens it to write\n"
        "async def main():\n"
        "    service = micro.Service('helloworld')\n"
        "    service.handle(Helloworld())\n"
        "    await service.start()\n"
        "    if first:\n"
        "        os._exit(3)\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    assert micro("run", str(crasher), timeout=SLOW).returncode == 0
    assert micro("run", str(flaky), timeout=SLOW).returncode == 0

    eventually_sync(
        lambda: "restart 1 of 4" in str(status_rows(micro)["flaky"]["error"]),
        "flaky's crash and its next attempt in its status",
        timeout=SLOW,
        interval=0.2,
    )
    row = status_rows(micro)["flaky"]
    assert row["status"] == "starting" and row["retries"] == 1
    assert str(row["error"]).startswith("instance 0 exited with status 3; restart 1 of 4 in 0.25s")
    assert "retries=1, error=instance 0 exited with status 3" in micro("status", "flaky").stdout
    eventually_sync(lambda: _open_gate(gate), "the restarted flaky waiting at its gate", timeout=SLOW)
    row = wait_status(micro, "flaky", "running")
    assert row["error"] == "" and row["retries"] == 1
    assert json.loads(micro("flaky", "call", "--name=Ed").stdout) == {"msg": "Hello Ed"}

    row = wait_status(micro, "crasher", "error", timeout=120)
    assert row["retries"] == 5
    assert row["error"] == "crashed 5 times, last exited with status 3"
    text = micro("status", "crasher").stdout
    assert "retries=5" in text and "error=crashed 5 times" in text
    logs = micro("logs", "crasher", "-n", "-1").stdout
    waits = re.findall(r"restarting instance 0 in (\S+)s", logs)
    assert waits == ["0.25", "0.5", "1", "1"]  # doubled, then capped
    assert "crasher" not in micro("services").stdout.split()  # no node of it is left


def test_a_bad_restart_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    for name, value in (("MICRO_RUNTIME_MAX_RETRIES", "-1"), ("MICRO_RUNTIME_BACKOFF_CAP", "soon")):
        server = launch_server(tmp_path / "server-home", wait=False, settings={name: value})
        try:
            server.proc.wait(START_SECONDS)
        finally:
            server.stop()
        assert server.proc.returncode != 0
        assert one_line("".join(server.stderr)).startswith(f"{name} must be")


def test_upload_the_server_cannot_see(
    micro: Runner, shared_server: MicroServer, template: Path, tmp_path: Path
) -> None:
    """The server runs what was uploaded: the folder is deleted once it is uploaded, and an
    archive sent straight through Source.Upload names a folder that never existed."""
    import asyncio
    import io
    import tarfile

    from micro.runtime import Service
    from micro.runtime.grpc import GrpcRuntime

    folder = service_folder(template, tmp_path, "gone")
    assert micro("run", "--wait", str(folder), timeout=SLOW).returncode == 0
    shutil.rmtree(folder)
    assert json.loads(micro("gone", "call", "--name=Bo").stdout) == {"msg": "Hello Bo"}
    update = micro("update", "gone", "--wait", cwd=tmp_path, timeout=SLOW)  # from the recorded source
    assert update.returncode == 0, update.stderr
    assert json.loads(micro("gone", "call", "--name=Bo").stdout) == {"msg": "Hello Bo"}
    micro("kill", "gone")

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(template.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                tar.add(path, arcname=f"deep/inside/{path.relative_to(template).as_posix()}")
    data = buffer.getvalue()

    async def send() -> None:
        runtime = GrpcRuntime(shared_server.address, token=shared_server.token())

        async def chunks():  # type: ignore[no-untyped-def]
            yield data[: len(data) // 2]
            yield data[len(data) // 2 :]

        try:
            upload = await runtime.upload("synthetic", chunks())
            await runtime.create(
                Service(name="synthetic", source="/never/existed/synthetic"),
                upload=upload,
                subfolder="deep/inside",
            )
        finally:
            await runtime.close()

    asyncio.run(send())
    wait_status(micro, "synthetic", "running")
    assert json.loads(micro("synthetic", "call", "--name=Al").stdout) == {"msg": "Hello Al"}
    micro("kill", "synthetic")


def test_nested_folder_of_a_git_repository(micro: Runner, template: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "services").mkdir(parents=True)
    service_folder(template, repo / "services", "nested")
    (repo / "big.bin").write_bytes(b"\0" * 4096)
    (repo / ".gitignore").write_text("big.bin\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    deeper = repo / "services" / "nested" / "tests"
    result = micro("run", "--wait", "..", cwd=deeper, timeout=SLOW)
    assert result.returncode == 0, result.stderr
    assert json.loads(micro("nested", "call", "--name=Ed").stdout) == {"msg": "Hello Ed"}
    micro("kill", "nested")


def test_logs_of_an_unknown_service(micro: Runner) -> None:
    result = micro("logs", "nosuch")
    assert result.returncode == 1
    assert one_line(result.stderr) == "Service not found"
    negative = micro("logs", "nosuch", "-n", "-5")  # not "all": -1 is
    assert (negative.returncode, one_line(negative.stderr)) == (
        1,
        "Invalid --lines -5: a number of lines, or -1 for all",
    )


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[list[MicroServer]]:
    servers: list[MicroServer] = []
    yield servers
    for server in servers:
        server.stop()


def test_server_restart_brings_services_back_and_leaves_no_process(
    own_server: list[MicroServer], template: Path, tmp_path: Path
) -> None:
    home = tmp_path / "server-home"
    server = launch_server(home)
    own_server.append(server)

    def micro(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return run_micro(*args, server=server, **kwargs)  # type: ignore[arg-type]

    for name in ("keeper", "killed"):
        assert (
            micro("run", "--wait", str(service_folder(template, tmp_path, name)), timeout=SLOW).returncode
            == 0
        )
    micro("kill", "killed")
    first = pids(micro, "keeper")
    server.stop()
    all_gone(first, "keeper after the server stopped")

    again = launch_server(home, server.address)
    own_server.append(again)
    server._token.clear()

    def micro2(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return run_micro(*args, server=again, **kwargs)  # type: ignore[arg-type]

    wait_status(micro2, "keeper", "running")
    assert "killed" not in status_rows(micro2)
    assert json.loads(micro2("keeper", "call", "--name=Cy").stdout) == {"msg": "Hello Cy"}
    second = [p for p in pids(micro2, "keeper") if p not in first]
    again.kill9()
    all_gone(second, "keeper after kill -9 of the server")


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_git_sources_with_subfolder_and_ref(micro: Runner, template: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    service_folder(template, repo, "svc")
    _git("init", "-q", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("commit", "-qm", "one", cwd=repo)
    _git("tag", "v1", cwd=repo)
    _git("tag", "release/1.2", cwd=repo)  # a ref with folders
    handler = repo / "svc" / "handler.py"
    handler.write_text(handler.read_text().replace('f"Hello {', 'f"Yo {'))
    _git("commit", "-qam", "two", cwd=repo)
    _git("branch", "feature/x", cwd=repo)
    shutil.rmtree(repo / "svc")  # the work tree no longer has it: only git does

    run = micro("run", "--wait", f"file://{repo}/svc@v1", timeout=SLOW)
    assert run.returncode == 0, run.stderr
    row = status_rows(micro)["svc"]
    assert (row["version"], row["status"]) == ("v1", "running")
    assert json.loads(micro("svc", "call", "--name=Di").stdout) == {"msg": "Hello Di"}
    latest = micro("run", "--wait", "--name", "svc-main", f"{repo}/svc", timeout=SLOW)
    assert latest.returncode == 0, latest.stderr
    assert json.loads(micro("svc-main", "call", "--name=Di").stdout) == {"msg": "Yo Di"}
    feature = micro("run", "--wait", "--name", "svc-x", f"file://{repo}/svc@feature/x", timeout=SLOW)
    assert feature.returncode == 0, feature.stderr
    assert status_rows(micro)["svc-x"]["version"] == "feature/x"
    assert json.loads(micro("svc-x", "call", "--name=Di").stdout) == {"msg": "Yo Di"}
    for name in ("svc", "svc-main", "svc-x@feature/x"):
        assert micro("kill", name).returncode == 0, name
    # a bare name resolves under git.baseurl (an existing folder of that name would win)
    assert micro("user", "config", "set", "git.baseurl", f"file://{repo}").returncode == 0
    bare = micro("run", "--wait", "svc@release/1.2", cwd=tmp_path, timeout=SLOW)
    assert bare.returncode == 0, bare.stderr
    assert status_rows(micro)["svc"]["source"] == f"file://{repo}/svc@release/1.2"
    assert json.loads(micro("svc", "call", "--name=Di").stdout) == {"msg": "Hello Di"}
    micro("kill", "svc")

    before = micro("auth", "list", "accounts").stdout
    for source, message in (
        (f"file://{tmp_path}/nosuch", "No git repository at"),
        (f"{repo}/svc@nosuchref", "No branch, tag or commit nosuchref"),
        (f"file://{repo}/svc@feature/nosuch", "No branch, tag or commit feature/nosuch"),
        (f"file://{repo}/nosuchdir@v1", "No folder nosuchdir"),
        (f"{repo}@v1", "No entry point: main.py"),  # the repository's root has no service
    ):
        result = micro("run", "--name", "bad-git", source)
        assert result.returncode == 1, source
        assert message in one_line(result.stderr)
    assert "bad-git" not in status_rows(micro)
    assert micro("auth", "list", "accounts").stdout == before


def test_a_namespace_runs_its_own_services(
    micro: Runner, shared_server: MicroServer, template: Path, tmp_path: Path
) -> None:
    assert micro("namespace", "create", "team").returncode == 0
    folder = service_folder(template, tmp_path, "teamsvc")
    run = micro("--namespace", "team", "run", "--wait", str(folder), timeout=SLOW)
    assert run.returncode == 0, run.stderr
    assert "teamsvc" in micro("--namespace", "team", "services").stdout.split()
    assert "teamsvc" not in micro("services").stdout.split()
    assert "teamsvc" not in status_rows(micro)
    team = json.loads(micro("--namespace", "team", "status", "-o", "json").stdout)
    assert [(s["name"], s["metadata"]) for s in team] == [("teamsvc", {"owner": "admin", "group": "team"})]
    assert micro("logs", "teamsvc").returncode == 1  # not in micro
    refused = micro("namespace", "delete", "team", "--yes")
    assert refused.returncode != 0
    assert "has running services" in one_line(refused.stderr)
    assert micro("--namespace", "team", "kill", "teamsvc").returncode == 0
    logs = shared_server.home / "logs" / "team" / "teamsvc.log"
    assert logs.exists()
    deleted = micro("namespace", "delete", "team", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert not logs.exists()


def _wheel(folder: Path) -> None:
    """A wheel of ``tinypkg`` 1.0 in ``folder``: requirements install from it, offline."""
    import base64
    import hashlib
    import zipfile

    files = {
        "tinypkg/__init__.py": b"VALUE = 'from the wheel'\n",
        "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinypkg-1.0.dist-info/RECORD,,")
    with zipfile.ZipFile(folder / "tinypkg-1.0-py3-none-any.whl", "w") as whl:
        for name, data in files.items():
            whl.writestr(name, data)
        whl.writestr("tinypkg-1.0.dist-info/RECORD", "\n".join(record) + "\n")


def test_requirements_are_installed_into_the_service_venv(
    micro: Runner, template: Path, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels)
    folder = service_folder(template, tmp_path, "withreqs")
    (folder / "requirements.txt").write_text(f"--no-index\n--find-links {wheels}\ntinypkg==1.0\n")
    main = folder / "main.py"
    main.write_text("import tinypkg\nprint('tinypkg says', tinypkg.VALUE)\n" + main.read_text())
    run = micro("run", "--wait", str(folder), timeout=SLOW)
    assert run.returncode == 0, run.stderr
    assert "tinypkg says from the wheel" in micro("logs", "withreqs", "-n", "-1").stdout
    assert json.loads(micro("withreqs", "call", "--name=Wu").stdout) == {"msg": "Hello Wu"}
    micro("kill", "withreqs")


def test_a_build_cut_by_kill_9_is_built_again_on_restart(
    own_server: list[MicroServer], template: Path, tmp_path: Path
) -> None:
    home = tmp_path / "server-home"
    server = launch_server(home)
    own_server.append(server)
    folder = service_folder(template, tmp_path, "slowbuild")
    # the first build hangs in generate.py (the .proto is newer than its code); later ones do not
    (folder / "generate.py").rename(folder / "generate_real.py")
    (folder / "generate.py").write_text(
        "import os, pathlib, runpy, time\n"
        "marker = pathlib.Path(__file__).with_name('first-build')\n"
        "if not marker.exists():\n"
        "    marker.write_text(str(os.getpid()))\n"
        "    time.sleep(600)\n"
        "runpy.run_path('generate_real.py', run_name='__main__')\n"
    )
    proto = folder / "proto" / "helloworld.proto"
    later = proto.stat().st_mtime + 3600
    os.utime(proto, (later, later))
    assert run_micro("run", str(folder), server=server).returncode == 0
    markers: list[Path] = []

    def hanging() -> bool:
        markers[:] = list((home / "runtime" / "builds").rglob("first-build"))
        return bool(markers) and bool(markers[0].read_text())

    eventually_sync(hanging, "the first build runs generate.py", timeout=SLOW)
    assert status_rows(lambda *a, **k: run_micro(*a, server=server, **k))["slowbuild"]["status"] == "building"
    server.kill9()
    all_gone([int(markers[0].read_text())], "the build's generate.py after kill -9 of the server")

    again = launch_server(home, server.address)
    own_server.append(again)

    def micro2(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return run_micro(*args, server=again, **kwargs)  # type: ignore[arg-type]

    wait_status(micro2, "slowbuild", "running")
    assert json.loads(micro2("slowbuild", "call", "--name=Ty").stdout) == {"msg": "Hello Ty"}
    running = pids(micro2, "slowbuild")
    micro2("kill", "slowbuild")
    all_gone(running, "slowbuild")


def test_update_of_several_instances_leaves_no_gap(
    micro: Runner, shared_server: MicroServer, template: Path, tmp_path: Path
) -> None:
    import grpc

    folder = service_folder(template, tmp_path, "rolling")
    run = micro("run", "--wait", "--instances", "2", str(folder), timeout=SLOW)
    assert run.returncode == 0, run.stderr
    first = pids(micro, "rolling")
    answers: list[bytes] = []
    failures: list[str] = []
    done = threading.Event()

    def call_all_the_time() -> None:
        channel = grpc.insecure_channel(shared_server.address)
        call = channel.unary_unary("/helloworld.Helloworld/Call")
        metadata = (("authorization", f"Bearer {shared_server.token()}"), ("micro-service", "rolling"))
        while not done.is_set():
            try:
                answers.append(call(b"\n\x02Al", metadata=metadata, timeout=10))
            except grpc.RpcError as exc:
                failures.append(f"{exc.code()}: {exc.details()}")
        channel.close()

    caller = threading.Thread(target=call_all_the_time, daemon=True)
    caller.start()
    try:
        eventually_sync(lambda: len(answers) > 5, "calls are answered before the update", timeout=30)
        handler = folder / "handler.py"
        handler.write_text(handler.read_text().replace('f"Hello {', 'f"Hey {'))
        update = micro("update", str(folder), "--wait", timeout=SLOW)
        assert update.returncode == 0, update.stderr
        all_gone(first, "the first instances")
        eventually_sync(lambda: b"Hey Al" in answers[-1], "the new instances answer", timeout=30)
    finally:
        done.set()
        caller.join(15)
    assert failures == []
    micro("kill", "rolling")


def test_git_credentials_from_the_keyring_never_show(
    micro: Runner, shared_server: MicroServer, template: Path, tmp_path: Path
) -> None:
    """A dumb-HTTP remote with basic auth: ``micro user config set git.credentials.<host>``
    keeps the credentials in the keyring, the server's clone (and the clone of an update)
    authenticates with them through its askpass script, and the password is in no process's
    command line or environment while the clone runs, nor in status, logs, errors or any
    file the server keeps."""
    import base64
    import http.server

    work = tmp_path / "work"
    work.mkdir()
    service_folder(template, work, "private")
    _git("init", "-q", cwd=work)
    _git("add", "-A", cwd=work)
    _git("commit", "-qm", "one", cwd=work)
    bare = tmp_path / "served" / "private.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)
    password = "pw-4f9a17c2"
    wanted = "Basic " + base64.b64encode(f"deploy:{password}".encode()).decode()
    seen_in_ps: list[str] = []
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path / "served"), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            # while git asks: what any process shows of itself (ps, /proc/*/environ)
            for proc in Path("/proc").glob("[0-9]*"):
                for part in ("cmdline", "environ"):
                    try:
                        if password.encode() in (proc / part).read_bytes():
                            seen_in_ps.append(f"{proc.name}/{part}")
                    except OSError:
                        pass
            if self.headers.get("Authorization") != wanted:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.end_headers()
                return
            if not requests:
                time.sleep(1.5)  # a slow remote: longer than the calls' deadline below
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    key = f"git.credentials.127.0.0.1:{httpd.server_address[1]}"
    url = f"http://127.0.0.1:{httpd.server_address[1]}/private.git/private"
    try:
        # wrong credentials: one line naming the repository, nothing left behind
        assert micro("user", "config", "set", key, input="deploy:wrong\n").returncode == 0
        refused = micro("run", url, timeout=SLOW)
        assert refused.returncode == 1
        assert one_line(refused.stderr).startswith(
            f"Cannot clone http://127.0.0.1:{httpd.server_address[1]}/"
        )
        assert "private" not in status_rows(micro)
        assert "private-latest" not in micro("auth", "list", "accounts").stdout

        # the value typed (here piped), so it is in no shell history nor `ps`
        assert micro("user", "config", "set", key, input=f"deploy:{password}\n").returncode == 0
        assert micro("user", "config", "get", key).stdout.strip() == "deploy:********"
        # returns once the clone is stored; the clone is the build's, not bound by a call's deadline
        run = micro("--timeout", "1s", "run", url, timeout=SLOW)
        assert run.returncode == 0, run.stderr
        assert requests, "the clone never got past basic auth"
        wait_status(micro, "private", "running")
        assert json.loads(micro("private", "call", "--name=Po").stdout) == {"msg": "Hello Po"}
        requests.clear()
        update = micro("update", "private", "--wait", timeout=SLOW)  # cloned again, with them
        assert update.returncode == 0, update.stderr
        assert requests
        shown = (
            micro("status").stdout
            + micro("status", "-o", "json").stdout
            + micro("logs", "private", "-n", "-1").stdout
            + run.stderr
            + update.stderr
            + "\n".join(shared_server.stderr)
        )
        assert password not in shown
        assert seen_in_ps == []
        files = [f for f in shared_server.home.rglob("*") if f.is_file()]
        assert [str(f) for f in files if password.encode() in f.read_bytes()] == []
        micro("kill", "private")
        assert micro("user", "config", "delete", key).returncode == 0
        assert micro("user", "config", "get", key).returncode == 1
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_git_credentials_in_the_url_leave_the_source(micro: Runner) -> None:
    """A URL's ``user:password@`` is taken out of the source before it is sent: the server
    records and shows the URL without it."""
    result = micro("run", "--name", "private", "https://someone:s3cret-pw@127.0.0.1:9/org/repo")
    assert result.returncode == 1
    assert one_line(result.stderr).startswith("Cannot clone https://127.0.0.1:9/org/repo")
    assert "s3cret" not in result.stderr + result.stdout
    assert "private" not in status_rows(micro)


def _open_gate(fifo: Path) -> bool:
    """Open ``fifo`` to write and close it (its reader's read ends); False while nobody reads it."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no reader yet
            return False
        raise
    os.close(fd)
    return True
