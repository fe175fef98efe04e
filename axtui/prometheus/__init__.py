"""Prometheus metrics in prometheus-client's multiprocess format (no HTTP here: the gateway's
`/metrics` route serves them). Core: the recorder's child imports it, never gateway/."""
