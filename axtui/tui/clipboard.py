"""Copy over OSC 52: the terminal puts the text on the clipboard, so it works over ssh.

Under tmux the sequence is wrapped for passthrough (`ESC P tmux; ... ESC \\`, each ESC inside
doubled), since tmux otherwise swallows it unless `set-clipboard` is on.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

ESC = "\x1b"
BEL = "\x07"


def osc52(text: str, *, tmux: bool = False) -> str:
    """The escape sequence that sets the clipboard to `text`."""
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    seq = f"{ESC}]52;c;{payload}{BEL}"
    if tmux:
        return f"{ESC}Ptmux;{seq.replace(ESC, ESC + ESC)}{ESC}\\"
    return seq


def in_tmux(environ: Mapping[str, str] | None = None) -> bool:
    return bool((os.environ if environ is None else environ).get("TMUX"))


def copy(app, text: str, environ: Mapping[str, str] | None = None) -> str:
    """Put `text` on the clipboard through `app`'s terminal; returns the sequence written."""
    seq = osc52(text, tmux=in_tmux(environ))
    app._clipboard = text  # what App.clipboard reports, as copy_to_clipboard keeps it
    driver = getattr(app, "_driver", None)
    if driver is not None:
        driver.write(seq)
    return seq
