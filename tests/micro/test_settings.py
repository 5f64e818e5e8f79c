"""micro.settings: every MICRO_* variable declared once, validated with a line naming it,
written back for a child process, and listed in the README."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from micro import errors, settings
from micro.settings import Auth, Cli, Client, Limits, Paths, Server, Service, Settings

ROOT = Path(__file__).resolve().parents[2]

# MICRO_* words in the code that are not variables
NOT_SETTINGS = {
    "MICRO_ADMIN",  # micro.auth.boundary.Policy.MICRO_ADMIN
}

# a value other than the default for every field, of every kind
CHANGED = Settings(
    paths=Paths(home="/srv/micro"),
    client=Client(
        env="prod",
        namespace="team",
        proxy="10.0.0.7:8443",
        proxy_tls=True,
        proxy_ca="/etc/ca.pem",
        token="tok",
    ),
    cli=Cli(output="json", debug=True, timeout=2.5),
    service=Service(
        name="hello", version="v2", auth_id="hello-svc", auth_secret="pw", auth_file="/run/creds"
    ),
    server=Server(
        profile="test",
        store="memory",
        events="memory",
        address="0.0.0.0:9000",
        api_address="0.0.0.0:9001",
        api_cors_origins="https://a.example",
        tls_cert="/c.pem",
        tls_key="/k.pem",
        without="runtime",
        register_seconds=5,
        max_retries=0,
        backoff_cap=2,
    ),
    auth=Auth(token_ttl=60, refresh_ttl=3600, disable_admin=True),
    limits=Limits(**{f.name: 7 for f in dataclasses.fields(Limits)}),
)


def test_settings_round_trip_through_the_environment_of_a_child() -> None:
    env = CHANGED.to_env()
    assert Settings.from_env(env) == CHANGED
    assert len(env) == len(settings.variables())  # every field differs from its default, so all are written


def test_defaults_write_no_variable_and_read_back_as_defaults() -> None:
    assert Settings().to_env() == {}
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env(Cli(timeout=None).to_env()).cli.timeout is None  # "0": no deadline


def test_an_empty_variable_counts_as_unset() -> None:
    assert Settings.from_env({v.name: " " for v in settings.variables()}) == Settings()


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        (
            "MICRO_PROXY_TLS",
            "maybe",
            "MICRO_PROXY_TLS must be true or false (1, yes, on / 0, no, off), not 'maybe'",
        ),
        ("MICRO_DEBUG", "2", "MICRO_DEBUG must be true or false (1, yes, on / 0, no, off), not '2'"),
        ("MICRO_OUTPUT", "xml", "MICRO_OUTPUT must be one of text, json, not 'xml'"),
        ("MICRO_TIMEOUT", "soon", "MICRO_TIMEOUT must be a duration such as 10s, 2m or 0 (none), not 'soon'"),
        ("MICRO_AUTH_TOKEN_TTL", "0", "MICRO_AUTH_TOKEN_TTL must be positive, not 0"),
        ("MICRO_AUTH_REFRESH_TTL", "1d", "MICRO_AUTH_REFRESH_TTL must be a whole number, not '1d'"),
        ("MICRO_LIMIT_NODES", "lots", "MICRO_LIMIT_NODES must be a whole number, not 'lots'"),
        ("MICRO_RUNTIME_MAX_RETRIES", "-1", "MICRO_RUNTIME_MAX_RETRIES must be 0 or more, not -1"),
        ("MICRO_RUNTIME_MAX_RETRIES", "many", "MICRO_RUNTIME_MAX_RETRIES must be a whole number, not 'many'"),
        ("MICRO_RUNTIME_BACKOFF_CAP", "0", "MICRO_RUNTIME_BACKOFF_CAP must be positive, not 0"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(name: str, value: str, line: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        Settings.from_env({name: value})
    assert caught.value.detail == line


def test_a_section_is_read_once_until_reloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICRO_NAMESPACE", "one")
    assert settings.client().namespace == "one"
    os.environ["MICRO_NAMESPACE"] = "two"  # behind the settings' back (monkeypatch undoes it)
    assert settings.client().namespace == "one"
    settings.reload()
    assert settings.client().namespace == "two"


def test_use_overrides_the_environment_for_this_process_and_its_children(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MICRO_PROFILE", "local")
    monkeypatch.setenv("MICRO_LIMIT_NODES", "5")
    monkeypatch.setenv("MICRO_NOT_OURS", "kept")
    settings.use(Server(profile="test"))
    assert settings.server().profile == "test"
    assert os.environ["MICRO_PROFILE"] == "local"  # nothing is written back into os.environ
    env = settings.child_env(Paths(home="/elsewhere"))
    assert env["MICRO_PROFILE"] == "test"
    assert env["MICRO_HOME"] == "/elsewhere"
    assert env["MICRO_LIMIT_NODES"] == "5"
    assert env["MICRO_NOT_OURS"] == "kept"
    assert env["PATH"] == os.environ["PATH"]


def test_child_env_drops_variables_that_equal_the_default() -> None:
    env = settings.child_env(base={"MICRO_OUTPUT": "text", "MICRO_STORE": "sqlite", "HOME": "/h"})
    assert "MICRO_OUTPUT" not in env  # text is the default: the child reads the same without it
    assert env["HOME"] == "/h"


def test_the_limits_api_keeps_working(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Limits.from_env({"MICRO_LIMIT_WATCHES": "1_000"}).watches == 1000
    monkeypatch.setenv("MICRO_LIMIT_WATCHES", "3")
    settings.limits.cache_clear()
    assert settings.limits().watches == 3


def test_typer_options_name_their_variable_through_the_settings() -> None:
    assert Client.variable("env") == "MICRO_ENV"
    with pytest.raises(KeyError):
        Client.variable("nope")


def test_the_readme_lists_every_variable_as_the_settings_declare_them() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings.readme_block(readme) == settings.markdown(), (
        "README.md's variables differ from micro/settings.py: run python -m micro.settings --update README.md"
    )


def test_the_markdown_command_prints_the_tables() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "micro.settings", "--markdown"], capture_output=True, text=True, check=True
    )
    assert done.stdout == settings.markdown()
    assert "| `MICRO_LIMIT_NODES` |" in done.stdout


def _sources() -> list[Path]:
    found = [
        p for top in ("micro", "server", "commands", "micro_tui", "bench") for p in (ROOT / top).rglob("*.py")
    ]
    return [p for p in found if "proto" not in p.relative_to(ROOT).parts]


def test_every_micro_variable_in_the_code_is_declared_in_the_settings() -> None:
    declared = {v.name for v in settings.variables()}
    used: dict[str, str] = {}
    for path in [*_sources(), ROOT / "README.md"]:
        for name in re.findall(r"\bMICRO_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()):
            used.setdefault(name, str(path.relative_to(ROOT)))
    unknown = {name: where for name, where in used.items() if name not in declared | NOT_SETTINGS}
    assert not unknown, f"declare these in micro/settings.py (or list them in NOT_SETTINGS): {unknown}"
    assert len(used) > 20  # the scan found the code


def test_no_code_reads_or_writes_a_micro_variable_outside_the_settings() -> None:
    bad = []
    for path in _sources():
        if path == ROOT / "micro" / "settings.py" or path.parts[len(ROOT.parts)] == "bench":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            reads = re.search(r"os\.environ|getenv|putenv", line) and "MICRO_" in line
            if reads or re.search(r'envvar="MICRO_', line):
                bad.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bad, "read MICRO_* through micro.settings:\n" + "\n".join(bad)


def test_importing_the_settings_stays_cheap() -> None:
    code = (
        "import sys, micro.settings; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'grpc', 'google', 'textual', 'server', 'commands', 'micro_tui', 'typer', 'rich'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
