"""What a dashboard kernel may tell the browser over the websocket: no traceback, no server path.

A filter that raises in a dashboard kernel (a widget callback) makes IPython send the browser an
``error`` message whose traceback names the server's files and folders (``/srv/rbm/rbm_utils/...``),
and warnings arrive on the kernel's stderr with the same paths. The page never shows them, but
anyone can read the websocket. :class:`PlainErrorsConnection` (Voila's kernel websocket connection,
``Voila.kernel_websocket_connection_class``) rewrites each message from the kernel before it
leaves the server (:func:`plain_content`): an error keeps only a plain sentence, stderr text is
dropped; the server log keeps the details (the kernel's own log).

Example:
    >>> content = {"ename": "KeyError", "evalue": "'/work/outputs/x'", "traceback": ["File /work/a.py"]}
    >>> plain_content("error", content)
    {'ename': 'Error', 'evalue': 'This part of the dashboard could not be updated; the details are in the server log.', 'traceback': []}
    >>> plain_content("stream", {"name": "stderr", "text": "/work/a.py:3: UserWarning"})
    {'name': 'stderr', 'text': ''}
    >>> plain_content("comm_msg", {"data": {"x": 1}}) is None
    True
"""

from __future__ import annotations

import re
from typing import Any

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

#: What a browser is told instead of an exception.
PLAIN_ERROR = "This part of the dashboard could not be updated; the details are in the server log."
_ERROR_KEYS = ("ename", "evalue", "traceback")


def plain_content(msg_type: str, content: Any) -> dict | None:
    """The content a browser may receive for a kernel message of ``msg_type``: a new dict when it
    had to change (an error, an error reply, stderr), None when it may go as it is."""
    if not isinstance(content, dict):
        return None
    if msg_type == "error" or (content.get("status") == "error" and any(k in content for k in _ERROR_KEYS)):
        return {**content, "ename": "Error", "evalue": PLAIN_ERROR, "traceback": []}
    if msg_type == "stream" and content.get("name") == "stderr" and content.get("text"):
        return {**content, "text": ""}
    return None


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def server_log_text(content: dict) -> str:
    """The details of a message kept from the browser, for the server log (colour codes removed).

    >>> server_log_text({"ename": "KeyError", "evalue": "x", "traceback": ["\x1b[31mKeyError\x1b[0m: 'x'"]}).splitlines()
    ['KeyError: x', "KeyError: 'x'"]
    """
    if "text" in content:
        return _ANSI.sub("", str(content["text"]))
    lines = [f"{content.get('ename', '')}: {content.get('evalue', '')}", *map(str, content.get("traceback") or [])]
    return _ANSI.sub("", "\n".join(lines))


class PlainErrorsConnection(ZMQChannelsWebsocketConnection):
    """Jupyter's kernel websocket connection, each kernel message passed through :func:`plain_content`."""

    def handle_outgoing_message(self, stream: Any, outgoing_msg: list[Any]) -> None:
        try:
            parts: list[Any] = list(self.session.feed_identities(outgoing_msg)[1])
            header = self.session.unpack(parts[1])
            content = self.session.unpack(parts[4])
            plain = plain_content(str(header.get("msg_type", "")), content)
        except Exception:  # not a message we can read: it does not leave the server
            self.log.warning("dropped an unreadable kernel message")
            return
        if plain is not None:
            self.log.warning(
                "kernel %s: %s message kept from the browser: %s",
                getattr(self, "kernel_id", "?"),
                header.get("msg_type"),
                server_log_text(content),
            )
            idents = outgoing_msg[: len(outgoing_msg) - len(parts)]
            parts[4] = self.session.pack(plain)
            parts[0] = self.session.sign(parts[1:5]) if self.session.auth else b""
            outgoing_msg = [*idents, *parts]
        super().handle_outgoing_message(stream, outgoing_msg)
