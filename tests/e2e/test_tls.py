"""TLS end to end: ``micro server --tls-cert/--tls-key`` with a certificate made at test time,
an environment added with ``--tls --ca``, and every client path over it: login, built-in
commands, ``micro call``, dynamic commands, a service started by hand
(``MICRO_PROXY_CA``) and one the runtime starts."""

from __future__ import annotations

import datetime
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import MicroServer, one_line, run_micro
from tests.e2e.test_framework import helloworld, start_service

__all__ = ["helloworld", "start_service"]  # fixtures, used here

BOUND_SECONDS = 30.0


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def make_pair(folder: Path, name: str = "server") -> Pair:
    """A self-signed certificate for 127.0.0.1 and localhost (its own CA) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pair = Pair(folder / f"{name}-cert.pem", folder / f"{name}-key.pem")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return pair


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    return make_pair(tmp_path)


@pytest.fixture
def tls_server(pair: Pair, start_server: Callable[..., MicroServer], tmp_path: Path) -> MicroServer:
    return start_server(
        tmp_path / "server-home", args=("--tls-cert", str(pair.cert), "--tls-key", str(pair.key))
    )


def cli(*args: str) -> Any:
    """The CLI with the test's MICRO_HOME and no MICRO_PROXY: the environment decides."""
    return run_micro(*args, timeout=BOUND_SECONDS)


def test_round_trip_over_tls(
    tls_server: MicroServer, pair: Pair, helloworld: Path, start_service: Any
) -> None:
    address = tls_server.address
    assert cli("env", "add", "x", address, "--tls", "--ca", str(pair.cert)).returncode == 0
    listing = [line.split() for line in cli("env").stdout.splitlines()]
    assert ["x", address, "(tls)"] in listing

    login = cli("-e", "x", "login", "--username", "admin", "--password", "micro")
    assert login.returncode == 0, login.stderr
    wrote = cli("-e", "x", "store", "write", "greeting", "hello over tls")
    assert wrote.returncode == 0, wrote.stderr
    read = cli("-e", "x", "store", "read", "greeting")
    assert (read.returncode, read.stdout.strip()) == (0, "hello over tls"), read.stderr
    called = cli("-e", "x", "call", "store", "Store.Read", '{"key": "greeting"}')
    assert called.returncode == 0 and '"key": "greeting"' in called.stdout, called.stderr

    # a service started by hand reaches the TLS proxy (MICRO_PROXY_CA), the proxy its node
    start_service(["main.py"], cwd=helloworld, proxy=address, MICRO_PROXY_CA=str(pair.cert))
    hello = cli("-e", "x", "helloworld", "call", "--name", "John")
    assert hello.returncode == 0, hello.stderr
    assert '"msg": "Hello John"' in hello.stdout


def test_services_the_runtime_starts_reach_a_tls_server(
    tls_server: MicroServer, pair: Pair, helloworld: Path
) -> None:
    """``micro run`` against a TLS server: the service's own calls (its login, its
    registration) go over TLS, trusting the server's self-signed certificate."""
    assert cli("env", "add", "x", tls_server.address, "--ca", str(pair.cert)).returncode == 0
    assert cli("-e", "x", "login", "--username", "admin", "--password", "micro").returncode == 0
    run = run_micro("-e", "x", "run", "--wait", str(helloworld), timeout=90)
    assert run.returncode == 0, run.stderr
    hello = cli("-e", "x", "helloworld", "call", "--name", "Tess")
    assert hello.returncode == 0, hello.stderr
    assert '"msg": "Hello Tess"' in hello.stdout
    assert cli("-e", "x", "kill", "helloworld").returncode == 0


def test_a_plaintext_client_gets_one_line_exit_4(tls_server: MicroServer) -> None:
    result = run_micro("store", "read", "k", address=tls_server.address, timeout=BOUND_SECONDS)
    assert result.returncode == 4, result.stderr
    assert one_line(result.stderr) == f"Failed to connect to micro server at {tls_server.address}"


def test_a_tls_client_that_does_not_trust_the_certificate_gets_exit_4(
    tls_server: MicroServer, tmp_path: Path
) -> None:
    other = make_pair(tmp_path, "other")
    assert cli("env", "add", "x", tls_server.address, "--ca", str(other.cert)).returncode == 0
    result = cli("-e", "x", "store", "read", "k")
    assert result.returncode == 4, result.stderr
    assert one_line(result.stderr) == f"Failed to connect to micro server at {tls_server.address}"


def test_env_add_refuses_a_ca_it_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    result = cli("env", "add", "x", "127.0.0.1:8443", "--ca", str(missing))
    assert result.returncode == 1
    assert one_line(result.stderr) == f"Cannot read the CA file {missing}: no such file or directory"
    assert "x " not in cli("env").stdout


def test_a_bad_pair_is_one_line_and_exit_1(pair: Pair, tmp_path: Path) -> None:
    other = make_pair(tmp_path, "other")
    missing = tmp_path / "missing.pem"
    cases = [
        (
            ("--tls-cert", str(missing), "--tls-key", str(pair.key)),
            f"Cannot read the TLS certificate {missing}",
        ),
        (("--tls-cert", str(pair.cert), "--tls-key", str(other.key)), "key values mismatch"),
        (("--tls-cert", str(pair.key), "--tls-key", str(pair.key)), "holds no PEM certificate"),
        (("--tls-cert", str(pair.cert)), "--tls-cert and --tls-key go together"),
    ]
    for args, expected in cases:
        result = run_micro("server", "--address", "127.0.0.1:0", *args, timeout=BOUND_SECONDS)
        assert result.returncode == 1, (args, result.stderr)
        assert expected in one_line(result.stderr), (args, result.stderr)


async def test_binding_beyond_loopback_without_tls_warns(
    micro_home: Path, pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    from server.app import Server

    for address, tls, warned in [
        ("0.0.0.0:0", None, True),
        ("127.0.0.1:0", None, False),
        ("0.0.0.0:0", (str(pair.cert), str(pair.key)), False),
    ]:
        caplog.clear()
        srv = Server(data_dir=micro_home / "server", address=address, tls=tls, auth=False)
        with caplog.at_level(logging.WARNING, logger="micro.server"):
            await srv.start()
        await srv.stop(grace=0)
        warnings = [r.getMessage() for r in caplog.records if "without TLS" in r.getMessage()]
        assert bool(warnings) == warned, (address, tls, warnings)
        if warned:
            assert "access tokens" in warnings[0] and "clear text" in warnings[0]


async def test_a_resolved_tls_environment_is_dialled_over_tls(
    tls_server: MicroServer, pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the workspace's facade does: resolve the env, then open clients on its address."""
    from micro import _platform, environment, errors
    from micro.store.grpc import GrpcStore

    monkeypatch.setattr(_platform, "_tls", {})
    environment.add(environment.Environment("x", tls_server.address, ca=str(pair.cert)))
    assert environment.get("x").tls
    ctx = environment.resolve("x")
    assert _platform.tls_for(ctx.address) == str(pair.cert)
    store = GrpcStore(ctx.address, namespace=ctx.namespace)
    try:
        with pytest.raises(errors.Unauthorized):  # the server answered: TLS worked
            await store.read("k")
    finally:
        await store.close()
