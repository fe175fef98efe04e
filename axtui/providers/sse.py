"""Server-sent events decoded from a body read in pieces, as the WHATWG spec reads them:
lines end in CRLF, LF or CR; `data:` lines join with LF; `event:`, `id:` and `retry:` set
their field; a line starting with `:` is a comment; a blank line dispatches the event.

httpx-sse does the same over httpx's text iterator; this one works on the bytes the
HTTP/1.1 pool hands over (a piece may end mid-line, or between a CR and its LF), and
decodes UTF-8 per whole line, so a character split across two pieces is never mangled.
The events are httpx-sse's `ServerSentEvent`s: the adapters read either source alike.
"""

from __future__ import annotations

from httpx_sse import ServerSentEvent


class SseDecoder:
    __slots__ = ("_buf", "_cr", "_event", "_data", "_id", "_retry")

    def __init__(self) -> None:
        self._buf = b""  # an unfinished line
        self._cr = False  # the last piece ended in CR: a LF first in the next one is its pair
        self._event = ""
        self._data: list[str] = []
        self._id = ""
        self._retry: int | None = None

    def feed(self, piece: bytes) -> list[ServerSentEvent]:
        """The events completed by this piece of the body."""
        if self._cr:
            self._cr = False
            if piece.startswith(b"\n"):
                piece = piece[1:]
        if not piece:
            return []
        if b"\r" in piece:
            if piece.endswith(b"\r"):
                self._cr = True
            piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if self._buf:
            piece = self._buf + piece
        lines = piece.split(b"\n")
        self._buf = lines.pop()  # after the last line end: unfinished (or empty)
        events: list[ServerSentEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[ServerSentEvent]:
        """At the body's end: an unterminated last line is a line; an event without its
        blank line is dropped, as the spec says."""
        if not self._buf:
            return []
        line, self._buf = self._buf, b""
        self._line(line)
        return []

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", "replace")
        if line[0] == ":":
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event, retry = self._data, self._event, self._retry
        self._data, self._event, self._retry = [], "", None
        if not data and not event and not self._id and retry is None:
            return None
        return ServerSentEvent(event=event or "message", data="\n".join(data), id=self._id,
                               retry=retry)
