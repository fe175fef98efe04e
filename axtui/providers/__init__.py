"""Provider adapters: one module per wire protocol, over one shared httpx client."""

from __future__ import annotations

import os
from importlib import import_module

import httpx

from axtui.clock import Clock
from axtui.config import ProviderConfig, SimProfile
from axtui.providers.base import Provider, Timeouts

_ADAPTERS = {
    "openai": ("axtui.providers.openai", "OpenAIProvider"),
    "anthropic": ("axtui.providers.anthropic", "AnthropicProvider"),
    "gemini": ("axtui.providers.gemini", "GeminiProvider"),
    "cohere": ("axtui.providers.cohere", "CohereProvider"),
}


def build_provider(
    name: str,
    cfg: ProviderConfig,
    client: httpx.AsyncClient | None,
    clock: Clock,
    models: dict[str, SimProfile] | None = None,
) -> Provider:
    """Make the adapter for one configured provider. The API key is read from the
    environment variable the config names; it is held only by the adapter. `models` gives
    per-deployment profiles for a sim provider."""
    t = cfg.timeout
    timeouts = Timeouts(connect=t.connect, read=t.read, total=t.total)
    if cfg.protocol == "sim":
        from axtui.providers.sim import SimProvider

        assert cfg.sim is not None  # config validation guarantees it
        free = cfg.free_tier
        return SimProvider(
            name, profile=cfg.sim, clock=clock,
            rpm=cfg.rpm or (free.rpm if free else None),
            tpm=cfg.tpm or (free.tpm if free else None),
            models=models or None,
            timeouts=timeouts,
        )
    module, cls = _ADAPTERS[cfg.protocol]
    adapter = getattr(import_module(module), cls)
    api_key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
    return adapter(
        name,
        base_url=cfg.resolved_base_url(),
        api_key=api_key,
        client=client,
        clock=clock,
        timeouts=timeouts,
        headers=cfg.headers,
        api_version=cfg.api_version,
    )
