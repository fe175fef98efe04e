"""Callers' ratings (POST /v1/feedback) as Prometheus histograms of their scores, per route
and serving deployment and per flag variant: `_count` is how many, and the mean is
`rate(axtui_feedback_score_sum[1h]) / rate(axtui_feedback_score_count[1h])`. A histogram
(not a counter of score sums): scores on the -1..1 scale may be negative. Counted by the
process that took the rating; a re-rating counts again (the store keeps only the last).
"""

from __future__ import annotations

from bisect import bisect_left
from pathlib import Path

from prometheus_client.utils import floatToGoString

from axtui.prometheus.files import MetricFiles
from axtui.records import RequestRecord

# Upper bounds covering both scales (-1..1 and 1..5); +Inf follows.
BOUNDS = (-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
_LE = (*(floatToGoString(b) for b in BOUNDS), "+Inf")

SCORE = ("axtui_feedback_score", "Callers' ratings (POST /v1/feedback) on the [feedback] "
         "scale, by route and serving deployment.", ("route", "deployment"))
FLAG_SCORE = ("axtui_feedback_flag_score", "Callers' ratings by flag and variant (the cohort "
              "and its baseline \"off\").", ("flag", "variant"))


class RatingMetrics:
    """Counts ratings into the multiprocess directory `path`."""

    def __init__(self, path: str | Path) -> None:
        self.files = MetricFiles.acquire(path)

    def close(self) -> None:
        self.files.release()

    def _observe(self, spec: tuple, labels: tuple, score: float) -> None:
        name, help_text, names = spec
        le = _LE[bisect_left(BOUNDS, score)]
        self.files.value("histogram", name, name + "_bucket", (*names, "le"), (*labels, le),
                         help_text).inc(1)
        self.files.value("histogram", name, name + "_sum", names, labels, help_text).inc(score)

    def observe(self, record: RequestRecord, score: float) -> None:
        self._observe(SCORE, (record.route, record.deployment or ""), score)
        for flag, variant in sorted(record.flags.items()):
            self._observe(FLAG_SCORE, (flag, variant), score)
