"""OSC 52 copy: the exact bytes, bare and wrapped for tmux."""

from axtui.tui.clipboard import copy, in_tmux, osc52


def test_osc52_sets_the_clipboard_to_the_base64_of_the_text():
    assert osc52("req-42") == "\x1b]52;c;cmVxLTQy\x07"


def test_under_tmux_the_sequence_is_wrapped_for_passthrough_with_escapes_doubled():
    assert osc52("req-42", tmux=True) == "\x1bPtmux;\x1b\x1b]52;c;cmVxLTQy\x07\x1b\\"


def test_non_ascii_text_is_encoded_as_utf8():
    assert osc52("é") == "\x1b]52;c;w6k=\x07"


def test_tmux_is_detected_from_the_TMUX_variable():
    assert in_tmux({"TMUX": "/tmp/tmux-0/default,1,0"})
    assert not in_tmux({})


class _Driver:
    def __init__(self):
        self.written = []

    def write(self, data):
        self.written.append(data)


class _App:
    def __init__(self):
        self._driver = _Driver()
        self._clipboard = ""


def test_copy_writes_the_wrapped_sequence_to_the_terminal_when_in_tmux():
    app = _App()
    copy(app, "req-42", {"TMUX": "x"})
    assert app._driver.written == ["\x1bPtmux;\x1b\x1b]52;c;cmVxLTQy\x07\x1b\\"]
    assert app._clipboard == "req-42"
