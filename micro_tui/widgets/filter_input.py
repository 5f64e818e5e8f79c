"""The ``/`` filter box of an area (services, logs, store): ``enter`` hands the focus back
before the next key is routed."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

__all__ = ["FilterInput"]


class FilterInput(Input):
    """An :class:`Input` whose ``enter`` gives the focus to ``back_to`` (a selector in its
    screen) at once, so that the keys typed after it go where they would at typing speed.

    Input's own ``enter`` is a binding looked up only once the key has bubbled up to the app
    (several message hops later); the keys after it were routed meanwhile, with the focus
    still here: ``/ab⏎:`` typed ahead put ``:`` in the box instead of opening the command
    bar. A priority binding runs as the app takes the key, in order with the keys after it
    (like the screens' ``/``). The keys typed before ``enter`` may still wait in this box's
    queue: ``Submitted`` is posted behind them, so it carries the whole value."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Done", show=False, priority=True, id="filter.done"),
    ]

    def __init__(self, *args: Any, back_to: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.back_to = back_to

    async def action_submit(self) -> None:
        screen = self.screen
        screen.set_focus(screen.query_one(self.back_to))  # now, not after a refresh like focus()
        self.call_later(super().action_submit)
