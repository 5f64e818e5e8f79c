"""Tables print stored text as text: no rich markup, no raw control characters."""

from __future__ import annotations

import pytest

from commands import _output


@pytest.mark.parametrize("terminal", [True, False])
def test_table_cells_are_text_with_control_characters_escaped(
    terminal: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_output, "_rich_ok", lambda: terminal)
    _output.table(["KEY", "VALUE"], [["mk", "[/bold]"], ["nl", "a\nb\x1b[31mred\t!"]])
    printed = capsys.readouterr().out
    assert "[/bold]" in printed  # rich markup would raise MarkupError on this closing tag
    assert "a\\nb\\x1b[31mred\\t!" in printed
    assert "\x1b[31m" not in printed  # the stored escape sequence never reaches the terminal
    rows = [line for line in printed.splitlines() if line.strip().startswith(("mk", "nl"))]
    assert len(rows) == 2  # the newline in the value did not split its row
