"""Read a multiprocess directory the way `/metrics` does, into {(sample, labels): value}."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families


def samples(path: str | Path) -> dict[tuple[str, frozenset], float]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    text = generate_latest(registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def value(found: dict, sample: str, **labels: str) -> float:
    return found.get((sample, frozenset(labels.items())), 0.0)
