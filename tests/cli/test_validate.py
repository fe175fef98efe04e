"""`axtui providers validate` as a user runs it: the real entry point in a subprocess, against
a config pointing at a loopback upstream served from this test's event loop."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson

from tests.providers.lying_upstreams import OpenAIModel

KEY = "sk-validate-0123456789abcdef01234567"
ENV = "AXTUI_TEST_VALIDATE_KEY"
REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, base_url: str, capabilities: list[str]) -> Path:
    path = tmp_path / "axtui.toml"
    path.write_text(
        f"""
[providers.local]
protocol = "openai"
base_url = "{base_url}"
api_key_env = "{ENV}"

[[deployments]]
provider = "local"
model = "cheap-1"
capabilities = {orjson.dumps(capabilities).decode()}

[routes.chat]
candidates = ["local/cheap-1"]
"""
    )
    return path


async def axtui(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, ENV: KEY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "axtui.cli.main", *args,
        cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_drift_exits_1_and_says_what_to_change(tmp_path: Path) -> None:
    async with OpenAIModel(api_key=KEY) as up:
        cfg = write_config(tmp_path, up.base_url, ["tools", "json"])
        code, out, err = await axtui("providers", "validate", "-c", str(cfg), "--timeout", "5")
    assert code == 1, err
    assert "local/cheap-1 streams fine but the catalog does not claim streaming" in out
    assert "+streaming" in out
    assert KEY not in out + err


async def test_a_config_that_matches_the_upstream_exits_0(tmp_path: Path) -> None:
    async with OpenAIModel(api_key=KEY, refuses={"json"}) as up:
        cfg = write_config(tmp_path, up.base_url, ["streaming", "tools"])
        code, out, err = await axtui("providers", "validate", "local", "-c", str(cfg))
    assert code == 0, out + err
    assert "0 with drift, 0 unreachable" in out


async def test_json_output_parses_and_carries_the_drift(tmp_path: Path) -> None:
    async with OpenAIModel(api_key=KEY, refuses={"tools"}) as up:
        cfg = write_config(tmp_path, up.base_url, ["streaming", "tools", "json"])
        code, out, _ = await axtui("providers", "validate", "local/cheap-1", "-c", str(cfg),
                                   "--json")  # fmt: skip
    assert code == 1
    data = orjson.loads(out)
    assert data["ok"] is False and data["drift"] == ["local/cheap-1"]
    [d] = data["deployments"]
    assert d["claimed_but_missing"] == ["tools"]
    assert d["capabilities"]["tools"]["error_kind"] == "bad_request"
    assert d["suggested_capabilities"] == ["json", "streaming"]


async def test_an_unreachable_deployment_exits_1(tmp_path: Path) -> None:
    async with OpenAIModel(api_key="sk-some-other-key-0123456789abcdef") as up:
        cfg = write_config(tmp_path, up.base_url, ["streaming", "tools", "json"])
        code, out, _ = await axtui("providers", "validate", "-c", str(cfg))
    assert code == 1
    assert "no (auth)" in out and "1 unreachable" in out


async def test_an_unknown_name_exits_2_naming_the_known_ones(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "http://127.0.0.1:9/v1", ["streaming"])
    code, out, err = await axtui("providers", "validate", "nope", "-c", str(cfg))
    assert code == 2
    assert "unknown provider or deployment 'nope'" in err
    assert "local/cheap-1" in err
    assert out == ""


async def test_a_bad_config_exits_2_with_the_file_and_key(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "http://127.0.0.1:9/v1", ["streaming", "telepathy"])
    code, _, err = await axtui("providers", "validate", "-c", str(cfg))
    assert code == 2
    assert f"{cfg}: deployments[0].capabilities[1]" in err
