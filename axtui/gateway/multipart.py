"""A strict multipart/form-data reader (RFC 7578) for the gateway's uploads: every part in
order, so a repeated field (`timestamp_granularities[]`) keeps all its values. A body that
does not parse is one 400 naming what is wrong, never a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from axtui.gateway.errors import ApiError
from axtui.gateway.errors import bad_request as bad

_PARAM = re.compile(r';\s*([A-Za-z0-9_*.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
MAX_PARTS = 64  # a form of more fields than this is not a transcription


@dataclass(slots=True)
class Part:
    name: str
    filename: str | None  # None: a text field
    content_type: str | None
    data: bytes

    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise bad(f"form field {self.name!r} is not UTF-8 text", self.name) from None


def boundary_of(content_type: bytes) -> bytes:
    """The boundary of a multipart/form-data content type; 400 when there is none."""
    text = content_type.decode("latin-1")
    mime = text.split(";", 1)[0].strip().lower()
    if mime != "multipart/form-data":
        raise ApiError(415, "Content-Type must be multipart/form-data",
                       code="unsupported_media_type")
    params = _params(text)
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 70:
        raise bad("the multipart/form-data Content-Type has no valid boundary")
    return boundary.encode("latin-1")


def _params(header: str) -> dict[str, str]:
    out = {}
    for m in _PARAM.finditer(header):
        key, value = m.group(1).lower(), m.group(2).strip()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        if key.endswith("*"):  # RFC 5987: charset''percent-encoded
            _, _, encoded = value.partition("''")
            key, value = key[:-1], unquote(encoded)
        out.setdefault(key, value)
    return out


def parse_form(content_type: bytes, body: bytes) -> list[Part]:
    """Every part of a multipart/form-data body, in order."""
    delim = b"--" + boundary_of(content_type)
    start = body.find(delim)
    if start < 0 or (start > 0 and body[start - 2:start] != b"\r\n"):
        raise bad("the multipart body does not start with its boundary")
    pos = start + len(delim)
    parts: list[Part] = []
    while True:
        if body.startswith(b"--", pos):
            return parts  # the closing delimiter; anything after it is epilogue
        if not body.startswith(b"\r\n", pos):
            raise bad("the multipart body has a malformed boundary line")
        head_end = body.find(b"\r\n\r\n", pos + 2)
        if head_end < 0:
            raise bad("a multipart part has no end to its headers")
        end = body.find(b"\r\n" + delim, head_end + 4)
        if end < 0:
            raise bad("the multipart body ends without its closing boundary")
        parts.append(_part(body[pos + 2:head_end], body[head_end + 4:end]))
        if len(parts) > MAX_PARTS:
            raise bad(f"the form has more than {MAX_PARTS} fields")
        pos = end + 2 + len(delim)


def _part(head: bytes, data: bytes) -> Part:
    disposition = ctype = None
    for line in head.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            raise bad("a multipart part has a malformed header line")
        low = name.strip().lower()
        if low == b"content-disposition":
            disposition = value.decode("utf-8", "replace").strip()
        elif low == b"content-type":
            ctype = value.decode("latin-1").strip()
    if disposition is None or not disposition.lower().startswith("form-data"):
        raise bad("a multipart part has no Content-Disposition: form-data header")
    params = _params(disposition)
    name = params.get("name")
    if not name:
        raise bad("a multipart part has no field name")
    return Part(name, params.get("filename"), ctype, data)
