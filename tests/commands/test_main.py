"""The lazily built command table stays true to the command modules."""

from __future__ import annotations

import subprocess
import sys

from commands.main import COMMAND_MODULES, COMMANDS, LATER, build_module, v3_forms


def test_each_module_adds_exactly_its_commands_with_the_listed_help() -> None:
    for module in COMMAND_MODULES:
        built = build_module(module)
        listed = {name for name, (owner, _) in COMMANDS.items() if owner == module}
        assert set(built) == listed, module
        for name in listed:
            command = built[name]
            own = (command.short_help or command.help or "").strip().splitlines()[0]
            assert own == COMMANDS[name][1], name


def test_top_level_help_imports_no_command_module() -> None:
    code = (
        "import sys\n"
        "from commands.main import run\n"
        "run(['--help'])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('commands.') and m not in "
        "('commands.main', 'commands._output', 'commands._fast'))\n"
        "print('LOADED', loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "LOADED []" in out
    assert "store" in out and "Read and write records in the store." in out


def test_v3_forms_rewrite_only_the_words_before_the_command() -> None:
    assert v3_forms(["-e=staging", "store", "write", "-e=10s", "k", "v"]) == [
        "--env=staging", "store", "write", "-e=10s", "k", "v"
    ]  # fmt: skip
    assert v3_forms(["-env", "staging", "env"]) == ["--env", "staging", "env"]
    assert v3_forms(["-env=staging", "-namespace=foo", "-debug", "env"]) == [
        "--env=staging", "--namespace=foo", "--debug", "env"
    ]  # fmt: skip
    # a global option's value is not the command, even when it reads "help"
    assert v3_forms(["--namespace", "help", "help", "store"]) == ["--namespace", "help", "store", "--help"]
    assert v3_forms(["help"]) == ["--help"]
    assert v3_forms(["store", "help"]) == ["store", "help"]
    assert v3_forms(["-e", "x"]) == ["-e", "x"]


def test_commands_that_come_later_are_not_builtins_yet() -> None:
    assert not set(LATER) & set(COMMANDS)
