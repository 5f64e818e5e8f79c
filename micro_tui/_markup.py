"""User and server text inside Textual content markup.

Names, filters, requests, error details and addresses come from users and servers; a
``[/]`` or ``[b]`` in them must show as written, never be parsed (a stray closing tag
raises, and the workspace dies). Widgets that take a :class:`~textual.content.Content` or a
:class:`rich.text.Text` get one (that is never parsed); the few APIs that take markup only
(``notify``, a palette hit's help) get :func:`literal` text.
"""

from __future__ import annotations

__all__ = ["literal"]


def literal(text: object) -> str:
    """``text`` as content markup that renders exactly as written.

    Every ``[`` is escaped (``textual.markup.escape`` leaves an unclosed ``[/`` alone, which
    still fails to parse)."""
    return str(text).replace("[", "\\[")
