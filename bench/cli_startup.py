"""CLI start-up: ``micro --help``, ``micro env`` and ``micro store read k`` against baselines.

Baselines, written by this bench into a temporary folder and run with the same Python:
a minimal typer app's ``--help``, and a minimal typer command that makes one raw gRPC call
(a sync channel and the generated store stub) to the same running ``micro server``.
Bars: each micro figure within 1.25x of its baseline. Exits 1 when a bar is missed.

    .venv/bin/python bench/cli_startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import MICRO, clean_env, medians, start_server, stop, wall

BAR = 1.25

MINIMAL_HELP = textwrap.dedent(
    '''
    import typer

    app = typer.Typer()


    @app.command()
    def hello(name: str = "world") -> None:
        """Say hello."""
        print(f"hello {name}")


    if __name__ == "__main__":
        app()
    '''
)

RAW_GRPC = textwrap.dedent(
    '''
    import os
    import sys

    import typer

    app = typer.Typer()


    @app.command()
    def read(key: str) -> None:
        """Read one key with one raw gRPC call."""
        import grpc

        from micro.proto.store import store_pb2, store_pb2_grpc

        token = os.environ.get("MICRO_TOKEN")
        metadata = [("authorization", f"Bearer {token}")] if token else []
        with grpc.insecure_channel(os.environ["MICRO_PROXY"]) as channel:
            stub = store_pb2_grpc.StoreStub(channel)
            response = stub.Read(store_pb2.ReadRequest(key=key), metadata=metadata)
        sys.stdout.buffer.write(response.records[0].value + b"\\n")


    if __name__ == "__main__":
        app()
    '''
)


def admin_token(env: dict[str, str]) -> str | None:
    """Log in as the default admin; the access token, or None when the server has no auth."""
    import subprocess

    login = subprocess.run(
        [MICRO, "login", "--username", "admin", "--password", "micro"],
        env=env,
        capture_output=True,
        text=True,
    )
    if login.returncode != 0:
        return None
    token = subprocess.run([MICRO, "user", "token"], env=env, capture_output=True, text=True)
    return token.stdout.strip() or None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "minimal_help.py").write_text(MINIMAL_HELP)
        (folder / "raw_grpc.py").write_text(RAW_GRPC)
        home = folder / "home"
        proc, address = start_server(folder / "server-home")
        try:
            env = clean_env(home, MICRO_PROXY=address)
            token = admin_token(env)
            if token:  # the server enforces auth: both sides send the admin's token
                env["MICRO_TOKEN"] = token
            wall([MICRO, "store", "write", "k", "v"], env)
            py = sys.executable
            figures = medians(
                {
                    "typer --help (baseline)": ([py, str(folder / "minimal_help.py"), "--help"], env),
                    "micro --help": ([MICRO, "--help"], env),
                    "micro env": ([MICRO, "env"], env),
                    "typer + raw gRPC read (baseline)": ([py, str(folder / "raw_grpc.py"), "k"], env),
                    "micro store read k": ([MICRO, "store", "read", "k"], env),
                },
                args.runs,
            )
        finally:
            stop(proc)
    print(f"median wall time of {args.runs} runs each (Python {sys.version.split()[0]})")
    for name, seconds in figures.items():
        print(f"  {name:34s} {seconds * 1000:7.1f} ms")
    checks = [
        ("micro --help", "typer --help (baseline)"),
        ("micro env", "typer --help (baseline)"),
        ("micro store read k", "typer + raw gRPC read (baseline)"),
    ]
    missed = 0
    for name, baseline in checks:
        ratio = figures[name] / figures[baseline]
        met = ratio <= BAR
        missed += not met
        print(f"  {name:34s} {ratio:5.2f}x its baseline (bar {BAR}x): {'met' if met else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
