"""Switch environments (``f2`` / ``:env``), or add one."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from micro_tui._markup import literal
from micro_tui.facade import EnvInfo

__all__ = ["EnvPicker"]


class EnvPicker(ModalScreen[str | None]):
    """Returns the chosen env's name; ``a`` opens the add dialog."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="envs.cancel"),
        Binding("a", "add", "Add", id="envs.add"),
    ]

    def __init__(self, envs: list[EnvInfo], current: str) -> None:
        super().__init__()
        self.envs = envs
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "environments"
            yield OptionList(*[self._option(env) for env in self.envs], id="env-list")
            yield Label("enter switches · a adds · escape cancels", classes="hint")

    def _option(self, env: EnvInfo) -> Option:
        # columns as wide as the longest name and address (like `micro env`); one line each
        name_width = max(len(e.name) for e in self.envs)
        address_width = max(len(e.address) for e in self.envs)
        text = Text(
            "* " if env.name == self.current else "  ", style="bold", no_wrap=True, overflow="ellipsis"
        )
        text.append(f"{env.name:<{name_width}}", style=f"bold {env.color}" if env.color else "bold")
        text.append(f"  {env.address:<{address_width}}")
        if env.read_only:
            text.append(" read-only", style="reverse")
        if env.description:
            text.append(f"  {env.description}", style="dim")
        return Option(text, id=env.name)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        names = [e.name for e in self.envs]
        if self.current in names:
            options.highlighted = names.index(self.current)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_add(self) -> None:
        from micro_tui.dialogs.add_env_dialog import AddEnvDialog

        def added(env: EnvInfo | None) -> None:
            if env is None:
                return
            try:
                self.app.facade.session.add_env(env)  # type: ignore[attr-defined]
            except Exception as exc:
                self.notify(literal(exc), severity="error")
                return
            self.dismiss(env.name)

        self.app.push_screen(AddEnvDialog(), added)
