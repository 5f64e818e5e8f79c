"""Where the workspace is, as one immutable value: :attr:`MicroApp.session
<micro_tui.app.MicroApp.session>` holds it, screens and widgets watch it.

The app replaces the value whenever the facade's session slice says something changed (a
switch, a login, a ping), and Textual calls the watchers only when the new value differs:
the header re-renders on any change, an area reloads when :attr:`Session.context` changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from micro_tui.facade import Connection, EnvInfo, SessionFacade

__all__ = ["Session"]


@dataclass(frozen=True, slots=True)
class Session:
    env: EnvInfo
    address: str
    namespace: str
    account: str = ""
    connection: Connection = Connection.UNKNOWN
    note: str = ""
    """What the header says instead of the connection state (e.g. "checking local server…")."""

    @classmethod
    def of(cls, facade: SessionFacade, note: str = "") -> Session:
        """The session the facade's slice is in now."""
        return cls(facade.env, facade.address, facade.namespace, facade.account, facade.connection, note)

    @property
    def connected(self) -> bool:
        return self.connection is Connection.CONNECTED

    @property
    def context(self) -> tuple[str, str, str, str]:
        """What the areas' data depends on: another value means start over."""
        return (self.env.name, self.address, self.namespace, self.account)

    def refusal(self, action: str = "") -> str:
        """Why a mutating ``action`` is refused here ("" when it is not): the one read-only gate."""
        if not self.env.read_only:
            return ""
        return f"Environment '{self.env.name}' is read-only" + (f": {action} refused" if action else "")
