"""A fleet of gateway processes sharing one Redis (`[redis]`): caller quotas, headroom,
breaker trips and 429 cooldowns, and the response cache (see fleet.py's `attach`). The
engine knows nothing of it: each piece replaces an engine part by its interface."""
