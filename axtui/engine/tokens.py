"""Offline token estimates, used only for decisions (context window, cost estimate,
headroom). What is recorded and billed is what the provider reports.

No tokenizer is downloaded: BPE tokenizers average ~4 characters of English per token,
and ~1 token per character for CJK and other non-Latin scripts, so we count those apart.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from axtui.providers.base import ChatRequest

_PER_MESSAGE = 4  # role and framing tokens per message
_PER_IMAGE = 765  # a 1024x1024 image at high detail in OpenAI's accounting
_REASONING_HINTS = re.compile(
    r"\b(step[- ]by[- ]step|prove|proof|derive|analy[sz]e|reason|think carefully|"
    r"trade-?offs?|compare and contrast|algorithm|optimi[sz]e)\b",
    re.I,
)
# Every hint contains one of these: an ASCII prompt (lower-cased) with none has no hint.
# Not for other text: re.I also folds e.g. "ſ" to "s", which str.lower() does not.
_HINT_CORES = ("step", "prove", "proof", "derive", "analy", "reason", "think carefully",
               "trade", "compare and contrast", "algorithm", "optimi")


def estimate_text(text: str) -> int:
    if not text:
        return 0
    if text.isascii():
        return (len(text) + 3) // 4
    wide = sum(1 for ch in text if ord(ch) > 0x2E7F)  # CJK and beyond
    return (len(text) - wide + 3) // 4 + wide


def _content_text(content: Any) -> tuple[str, int]:
    """(text, images) of a message's content, string or list of parts."""
    if content is None:
        return "", 0
    if isinstance(content, str):
        return content, 0
    texts, images = [], 0
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                if part.get("type") == "text":
                    texts.append(str(part.get("text", "")))
                elif part.get("type") in ("image_url", "input_image", "image"):
                    images += 1
    return " ".join(texts), images


def estimate_prompt(request: ChatRequest) -> tuple[int, bool, str]:
    """(estimated prompt tokens, has images, all text joined for heuristics)."""
    total, images, texts = 3, 0, []
    for m in request.messages:
        text, imgs = _content_text(m.get("content"))
        images += imgs
        texts.append(text)
        total += _PER_MESSAGE + estimate_text(text)
        if m.get("tool_calls"):
            total += estimate_text(orjson.dumps(m["tool_calls"]).decode())
    if request.tools:
        total += estimate_text(orjson.dumps(request.tools).decode())
    total += images * _PER_IMAGE
    return total, images > 0, "\n".join(texts)


def complexity(prompt_tokens: int, request: ChatRequest, text: str) -> str:
    """simple / medium / complex, from size, tools and reasoning hints."""
    if prompt_tokens > 4000:
        return "complex"
    if prompt_tokens > 800 or request.tools:  # complex with a hint, else medium
        return "complex" if _has_hint(text) else "medium"
    if prompt_tokens > 400 or len(request.messages) > 6:
        return "medium"  # with a hint or without
    return "medium" if _has_hint(text) else "simple"


def _has_hint(text: str) -> bool:
    # instructions sit at the start ("Analyze the following...") or the end of a long prompt
    probe = text if len(text) <= 4000 else text[:2000] + "\n" + text[-2000:]
    if probe.isascii():  # the regex costs ~75 ns a character; a few substring scans less
        lower = probe.lower()
        for core in _HINT_CORES:
            if core in lower:
                break
        else:
            return False
    return _REASONING_HINTS.search(probe) is not None
