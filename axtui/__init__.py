"""axtui: an LLM routing gateway with an on-call console."""

__version__ = "0.1.0"
