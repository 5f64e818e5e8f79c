"""A new rule: id, ``type:name:endpoint`` resource, scope, access and priority, checked as
``micro auth create rule`` checks them."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from micro_tui.slices.auth import ACCESS, FieldError, RuleInfo, check_rule

__all__ = ["RuleDialog"]


def _row(label: str, field: Widget) -> Horizontal:
    """A field with its name beside it (a placeholder goes once the field has text)."""
    return Horizontal(Label(label, classes="form-label"), field, classes="form-row")


class RuleDialog(ModalScreen[RuleInfo | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="auth_rule.cancel"),
        Binding("enter", "create", "Create", priority=True, show=False, id="auth_rule.create"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="rule-dialog") as box:
            box.border_title = "create rule"
            yield _row("id", Input(placeholder="e.g. ops-store", id="rule-id", compact=True))
            resource = Input(
                placeholder="type:name:endpoint, e.g. service:store:*", id="rule-resource", compact=True
            )
            yield _row("resource", resource)
            scope = Input(
                placeholder="<public>, * any account, + any namespace, a scope", id="rule-scope", compact=True
            )
            yield _row("scope", scope)
            access = [(a, a) for a in ACCESS]
            yield _row(
                "access", Select(access, value="granted", allow_blank=False, id="rule-access", compact=True)
            )
            yield _row(
                "priority",
                Input("0", placeholder="higher is checked first", id="rule-priority", compact=True),
            )
            yield Static("", id="rule-error", markup=False)
            yield Button("Create", id="rule-create", variant="primary")
            yield Label("enter creates · escape cancels", classes="hint")

    def _value(self, wid: str) -> str:
        return self.query_one(f"#rule-{wid}", Input).value

    @on(Button.Pressed, "#rule-create")
    def action_create(self) -> None:
        access = str(self.query_one("#rule-access", Select).value)
        try:
            value = self._value
            rule = check_rule(value("id"), value("resource"), value("scope"), access, value("priority"))
        except FieldError as exc:
            self.query_one("#rule-error", Static).update(str(exc))
            self.query_one(f"#rule-{exc.field}").focus()
            return
        self.dismiss(rule)
