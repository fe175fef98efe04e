"""What each deployment can do and what it costs.

Prices come from the config when given, else from the bundled genai-prices data (offline),
else the deployment is priced at zero and marked `price_source="unknown"` so the console and
`providers list` can say so. Capabilities, context window and category come from the config,
else from a small table of known model families below, else conservative defaults.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from axtui.config import Config, DeploymentConfig, Price
from axtui.engine.audio import AudioSpec, audio_spec
from axtui.providers.params import protocol_caps

log = logging.getLogger(__name__)

ALL_CAPS = frozenset({"streaming", "tools", "vision", "json", "reasoning", "json_schema",
                      "logprobs", "logit_bias", "parallel_tool_calls"})
_STD = frozenset({"streaming", "tools", "json"})
_SCHEMA = _STD | {"json_schema"}
_GPT = _SCHEMA | {"vision", "logprobs", "logit_bias", "parallel_tool_calls"}
# OpenAI reasoning models: no logprobs, no logit_bias
_O = _SCHEMA | {"vision", "reasoning", "parallel_tool_calls"}
# Claude has no JSON mode (json_object); 4.5 and later follow a schema (output_config.format)
_CLAUDE = frozenset({"streaming", "tools", "vision", "parallel_tool_calls"})
_CLAUDE_45 = _CLAUDE | {"json_schema", "reasoning"}
_GEMINI = _SCHEMA | {"vision"}

# model id prefix -> (capabilities, context window, category); first match wins
_KNOWN: list[tuple[str, frozenset[str], int, str]] = [
    ("gpt-4o-mini", _GPT, 128_000, "small"),
    ("gpt-4.1-nano", _GPT, 1_047_576, "small"),
    ("gpt-4.1-mini", _GPT, 1_047_576, "small"),
    ("gpt-4.1", _GPT, 1_047_576, "large"),
    ("gpt-4o", _GPT, 128_000, "large"),
    ("gpt-5-chat", _GPT, 128_000, "large"),
    ("gpt-5-nano", _O, 400_000, "small"),
    ("gpt-5-mini", _O, 400_000, "small"),
    ("gpt-5", _O, 400_000, "reasoning"),
    ("o1", _O - {"parallel_tool_calls"}, 200_000, "reasoning"),
    ("o3", _O, 200_000, "reasoning"),
    ("o4-mini", _O, 200_000, "reasoning"),
    ("claude-haiku-4-5", _CLAUDE_45 - {"reasoning"}, 200_000, "small"),
    ("claude-sonnet-4-5", _CLAUDE_45, 200_000, "large"),
    ("claude-sonnet-4-6", _CLAUDE_45, 200_000, "large"),
    ("claude-opus-4-5", _CLAUDE_45, 200_000, "reasoning"),
    ("claude-opus-4-6", _CLAUDE_45, 200_000, "reasoning"),
    ("claude-opus-4-7", _CLAUDE_45, 200_000, "reasoning"),
    ("claude-3-5-haiku", _CLAUDE, 200_000, "small"),
    ("claude-haiku", _CLAUDE, 200_000, "small"),
    ("claude-3-haiku", _CLAUDE, 200_000, "small"),
    ("claude-sonnet", _CLAUDE | {"reasoning"}, 200_000, "large"),
    ("claude-3-5-sonnet", _CLAUDE, 200_000, "large"),
    ("claude-3-7-sonnet", _CLAUDE | {"reasoning"}, 200_000, "large"),
    ("claude-opus", _CLAUDE | {"reasoning"}, 200_000, "reasoning"),
    ("gemini-2.0-flash-lite", _GEMINI, 1_048_576, "small"),
    ("gemini-2.0-flash", _GEMINI, 1_048_576, "small"),
    ("gemini-2.5-flash-lite", _GEMINI | {"reasoning"}, 1_048_576, "small"),
    ("gemini-2.5-flash", _GEMINI | {"reasoning"}, 1_048_576, "small"),
    ("gemini-2.5-pro", _GEMINI | {"reasoning"}, 1_048_576, "reasoning"),
    ("llama-3.1-8b", _STD | {"parallel_tool_calls"}, 131_072, "small"),
    ("llama-3.3-70b", _STD | {"parallel_tool_calls"}, 131_072, "large"),
    ("mistral-small", _SCHEMA | {"vision", "parallel_tool_calls"}, 128_000, "small"),
    ("mistral-medium", _SCHEMA | {"vision", "parallel_tool_calls"}, 128_000, "large"),
    ("mistral-large", _SCHEMA | {"parallel_tool_calls"}, 128_000, "large"),
    ("command-r7b", _SCHEMA, 128_000, "small"),
    ("command-r-plus", _SCHEMA, 128_000, "large"),
    ("command-r", _SCHEMA, 128_000, "small"),
    ("command-a", _SCHEMA, 256_000, "large"),
]

# model id prefix -> most output tokens one answer may have; first match wins. Anthropic
# requires max_tokens, so a caller who gives none gets the model's limit, not a guess.
_OUTPUT_LIMITS: list[tuple[str, int]] = [
    ("claude-opus-4-6", 128_000), ("claude-opus-4-7", 128_000), ("claude-opus-4-5", 64_000),
    ("claude-opus-4", 32_000), ("claude-sonnet-4", 64_000), ("claude-haiku-4-5", 64_000),
    ("claude-3-7-sonnet", 64_000), ("claude-3-5", 8_192), ("claude-3-haiku", 4_096),
    ("claude-3-opus", 4_096),
]

_DEFAULT_CAPS = frozenset({"streaming"})
_DEFAULT_CONTEXT = 8_192

# genai-prices names vendors a little differently from our protocols
_VENDOR_FOR_PROTOCOL = {"openai": "openai", "anthropic": "anthropic", "gemini": "google",
                        "cohere": "cohere"}

# Prices are held as integer femto-dollars per token (1e-15 USD): USD/Mtok * 1e9.
_FEMTO_PER_USD_PER_MTOK = Decimal(1_000_000_000)


def _femto(usd_per_mtok: Decimal | None) -> int:
    return int((usd_per_mtok or Decimal(0)) * _FEMTO_PER_USD_PER_MTOK)


@dataclass(slots=True, frozen=True)
class DeploymentSpec:
    id: str
    provider: str
    model: str
    protocol: str
    vendor: str
    capabilities: frozenset[str]
    context_window: int
    max_output_tokens: int | None
    category: str
    free_tier: bool
    weight: float
    price_in: int  # femto-dollars per prompt token
    price_out: int  # femto-dollars per completion token
    price_cached: int  # femto-dollars per cached prompt token
    price_cache_write: int  # femto-dollars per prompt token written to the cache
    price_source: str  # "config" | "genai-prices" | "unknown"
    audio: AudioSpec | None = None  # a transcription deployment's formats, size and price
    region: str | None = None  # where it serves, when configured

    def cost_nano(self, prompt_tokens: int, completion_tokens: int, cached: int = 0,
                  written: int = 0) -> int:
        """Exact cost in nano-dollars, rounded half up once per call. `cached` (cache reads)
        and `written` (cache writes) are within `prompt_tokens`."""
        cached = min(cached, prompt_tokens)
        written = min(written, prompt_tokens - cached)
        femto = (
            (prompt_tokens - cached - written) * self.price_in
            + cached * self.price_cached
            + written * self.price_cache_write
            + completion_tokens * self.price_out
        )
        return (femto + 500_000) // 1_000_000

    def usd_per_mtok(self) -> tuple[Decimal, Decimal]:
        return (
            Decimal(self.price_in) / _FEMTO_PER_USD_PER_MTOK,
            Decimal(self.price_out) / _FEMTO_PER_USD_PER_MTOK,
        )


def _known(model: str) -> tuple[frozenset[str], int, str] | None:
    m = model.lower().rsplit("/", 1)[-1]
    for prefix, caps, ctx, cat in _KNOWN:
        if m.startswith(prefix):
            return caps, ctx, cat
    return None


def known_output_limit(model: str) -> int | None:
    m = model.lower().rsplit("/", 1)[-1]
    return next((n for prefix, n in _OUTPUT_LIMITS if m.startswith(prefix)), None)


def _base_price(p: object) -> Decimal | None:
    """genai-prices gives a Decimal or TieredPrices(base=..., tiers=...)."""
    if p is None:
        return None
    if isinstance(p, Decimal | int | float):
        return Decimal(str(p))
    base = getattr(p, "base", None)
    return Decimal(str(base)) if base is not None else None


def lookup_price(vendor: str, model: str) -> tuple[Price | None, int | None]:
    """(price, context window) from the bundled genai-prices data; never touches the network."""
    try:
        from genai_prices import Usage, calc_price

        calc = calc_price(Usage(input_tokens=1, output_tokens=1), model_ref=model,
                          provider_id=vendor)
    except Exception as e:  # the library raises LookupError and friends for unknown models
        log.debug("no bundled price for %s/%s: %s", vendor, model, e)
        return None, None
    mp = calc.model_price
    inp, out = _base_price(mp.input_mtok), _base_price(mp.output_mtok)
    if inp is None or out is None:
        return None, None
    cached = _base_price(getattr(mp, "cache_read_mtok", None))
    written = _base_price(getattr(mp, "cache_write_mtok", None))  # 5-minute writes
    ctx = getattr(calc.model, "context_window", None)
    return Price(input=inp, output=out, cached_input=cached, cache_write_input=written), ctx


def build_spec(d: DeploymentConfig, cfg: Config) -> DeploymentSpec:
    prov = cfg.providers[d.provider]
    vendor = prov.vendor or _VENDOR_FOR_PROTOCOL.get(prov.protocol, prov.protocol)
    known = _known(d.model)
    price, source, lib_ctx = d.price, "config", None
    if price is None:
        price, lib_ctx = lookup_price(vendor, d.model)
        source = "genai-prices" if price else "unknown"
    caps = frozenset(d.capabilities) if d.capabilities is not None else (
        known[0] if known else _DEFAULT_CAPS)
    caps = protocol_caps(prov.protocol, caps)  # e.g. no logprobs over Anthropic's wire
    ctx = d.context_window or (known[1] if known else None) or lib_ctx or _DEFAULT_CONTEXT
    audio = audio_spec(d)
    if audio is not None:  # a transcription model: nothing else, unless the config says so
        caps = (frozenset(d.capabilities) if d.capabilities is not None
                else frozenset()) | {"transcription"}
    category = d.category or (known[2] if known else "small")
    free = cfg.is_free_tier(d)
    return DeploymentSpec(
        id=d.id,
        provider=d.provider,
        model=d.model,
        protocol=prov.protocol,
        vendor=vendor,
        capabilities=caps,
        context_window=ctx,
        max_output_tokens=d.max_output_tokens or known_output_limit(d.model),
        category=category,
        free_tier=free,
        weight=d.weight,
        price_in=_femto(price.input if price else None),
        price_out=_femto(price.output if price else None),
        price_cached=_femto(
            price.cached_input if price and price.cached_input is not None
            else (price.input if price else None)
        ),
        price_cache_write=_femto(
            price.cache_write_input if price and price.cache_write_input is not None
            else (price.input if price else None)
        ),
        price_source=source,
        audio=audio,
        region=d.region,
    )


class Catalog:
    """Every configured deployment's spec, by id."""

    def __init__(self, cfg: Config) -> None:
        self.specs: dict[str, DeploymentSpec] = {d.id: build_spec(d, cfg) for d in cfg.deployments}

    def __getitem__(self, deployment: str) -> DeploymentSpec:
        return self.specs[deployment]

    def __iter__(self):
        return iter(self.specs.values())

    def __len__(self) -> int:
        return len(self.specs)
