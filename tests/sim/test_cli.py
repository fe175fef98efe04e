"""`axtui sim serve` and `axtui sim check` as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _axtui(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "axtui.cli.main", *args], env=ENV,
                          capture_output=True, text=True, timeout=30, **kw)


def test_serve_prints_its_urls_once_listening_and_stops_cleanly_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "axtui.cli.main", "sim", "serve", "-s", "one_provider_down",
         "--port", "0", "--json", "--protocol", "anthropic"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        info = orjson.loads(proc.stdout.readline())
        assert info["scenario"] == "one provider down"
        assert set(info["upstreams"]) == {"alpha", "beta"}
        r = httpx.post(info["upstreams"]["beta"] + "/v1/messages",
                       headers={"anthropic-version": "2023-06-01"},
                       json={"model": "claude", "max_tokens": 10,
                             "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200 and r.json()["type"] == "message"
        stats = httpx.get(info["url"] + "/_sim/stats").json()
        assert stats["upstreams"]["beta"]["calls"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err


def test_check_shows_a_bundled_scenarios_faults() -> None:
    out = _axtui("sim", "check", "everything_down")
    assert out.returncode == 0, out.stderr
    assert "alpha     outage" in out.stdout and "beta      error" in out.stdout


def test_check_json_lists_the_faults_with_their_kind_keys() -> None:
    out = _axtui("sim", "check", "rate_limit_storm", "--json")
    data = orjson.loads(out.stdout)
    assert [f["rate"] for f in data["faults"]] == [0.5, 0.34]
    assert data["faults"][0]["retry_after_s"] == 1.0 and "factor" not in data["faults"][0]


def test_a_bad_scenario_is_one_line_naming_file_and_key_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "x"\n[[upstreams]]\nname = "a"\nlatency_ms = -1\n')
    out = _axtui("sim", "serve", "--scenario", str(bad), "--port", "0")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"error: {bad}: upstreams[0].latency_ms: Input should be greater than or equal to 0"]


def test_an_unknown_protocol_is_exit_2() -> None:
    out = _axtui("sim", "serve", "--protocol", "grpc")
    assert out.returncode == 2 and "expected one of openai, anthropic, gemini, cohere" in out.stderr
