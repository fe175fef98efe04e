"""Live synthetic traffic for the console's demo: real-time arrivals with a daily shape, and
an incident schedule (fixtures/demo_incident.toml) that makes a provider fail and recover."""

from __future__ import annotations

import math
import random
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from axtui.config import Config, ConfigError, SimOutage
from axtui.traces.synthetic import Arrival, traffic

_PEAK = 1.5  # the busiest hour carries 1.5x the day's mean rate, the quietest 0.5x
_PEAK_HOUR = 14.0  # local time
_HORIZON_S = 86_400.0  # an incident repeats over a day of demo


def daily_rate(ts: float, mean_per_s: float) -> float:
    """Requests per second at wall time `ts`: a sine over the local day around the mean."""
    import time

    t = time.localtime(ts)
    hour = t.tm_hour + t.tm_min / 60 + t.tm_sec / 3600
    return mean_per_s * (1.0 + (_PEAK - 1.0) * math.cos(2 * math.pi * (hour - _PEAK_HOUR) / 24))


def live_arrivals(mean_per_s: float, routes: dict[str, float], *, start: float,
                  seed: int = 7) -> Iterator[Arrival]:
    """Endless arrivals (at_s after `start`) whose rate follows `daily_rate`: a Poisson
    stream at the peak rate, thinned by the rate of the moment."""
    peak = mean_per_s * _PEAK
    keep = random.Random(seed + 1)
    for a in traffic(10**12, routes=routes, rate_per_s=peak, seed=seed):
        if keep.random() * peak <= daily_rate(start + a.at_s, mean_per_s):
            yield a


def load_incident(path: str | Path | None = None) -> dict[str, list[SimOutage]]:
    """provider -> its outage windows, repeated over a day; the bundled schedule by default."""
    if path is None:
        text = resources.files("axtui.fixtures").joinpath("demo_incident.toml").read_text("utf-8")
        source = "demo_incident.toml (bundled)"
    else:
        source = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as e:
            raise ConfigError([f"{source}: cannot read: {e}"]) from None
    try:
        data = tomllib.loads(text)
        repeat = float(data.get("repeat_s", 0))
        windows = [(str(o["provider"]), SimOutage(start_s=o["start_s"], end_s=o["end_s"],
                                                  kind=o.get("kind", "server")))
                   for o in data.get("outages", [])]
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
        raise ConfigError([f"{source}: not an incident schedule: {e}"]) from None
    out: dict[str, list[SimOutage]] = {}
    for provider, w in windows:
        shift = 0.0
        while shift < _HORIZON_S:
            out.setdefault(provider, []).append(SimOutage(
                start_s=w.start_s + shift, end_s=w.end_s + shift, kind=w.kind))
            if repeat <= 0:
                break
            shift += repeat
    return out


def with_incident(cfg: Config, incident: dict[str, list[SimOutage]]) -> Config:
    """The config whose sim providers fail only as the schedule says (the config's own
    outage windows are for the virtual-time demo)."""
    unknown = sorted(p for p in incident if p not in cfg.providers
                     or cfg.providers[p].sim is None)
    if unknown:
        raise ConfigError([f"incident: {p}: not a simulated provider of the config"
                           for p in unknown])
    providers = dict(cfg.providers)
    for name, p in cfg.providers.items():
        if p.sim is not None:
            providers[name] = p.model_copy(update={"sim": p.sim.model_copy(
                update={"outages": incident.get(name, [])})})
    return cfg.model_copy(update={"providers": providers})
