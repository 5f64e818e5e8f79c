"""A runtime run alone (``micro service runtime``) tells its services to dial the server it
joined the way it dials it: plaintext, TLS with the system's CAs, or TLS with a CA file."""

from __future__ import annotations

import pytest

from micro import _platform
from server.runtime.local import _joined_tls_env


def test_the_services_dial_the_joined_server_as_the_runtime_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_platform, "_tls", {})
    assert _joined_tls_env("10.0.0.1:8081") == {}
    _platform.use_tls("10.0.0.1:8081", "/etc/micro/ca.pem")
    assert _joined_tls_env("10.0.0.1:8081") == {"MICRO_PROXY_TLS": "1", "MICRO_PROXY_CA": "/etc/micro/ca.pem"}
    _platform.use_tls("10.0.0.2:8081")  # a certificate of a public CA
    assert _joined_tls_env("10.0.0.2:8081") == {"MICRO_PROXY_TLS": "1"}
