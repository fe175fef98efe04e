from __future__ import annotations

import pytest

from axtui.config import ConfigError, load_config
from axtui.engine.engine import Engine
from axtui.fleet.fleet import attach
from tests.fleet_redis.configs import fleet_config
from tests.servers.redis import free_port


def test_no_redis_url_means_in_process_counters():
    config = fleet_config(None, key_rpm=10)
    engine = Engine(config, seed=1)
    assert attach(engine, config.redis) is None
    assert type(engine.quotas).__name__ == "CallerQuotas"


def test_a_url_that_is_not_redis_is_one_clear_line(tmp_path):
    path = tmp_path / "axtui.toml"
    path.write_text('[providers.a]\nprotocol = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
                    '[[deployments]]\nprovider = "a"\nmodel = "m"\n'
                    '[routes.chat]\ncandidates = ["a/m"]\n'
                    '[redis]\nurl = "http://127.0.0.1:6379"\n')
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "redis.url" in str(e.value) and "redis://" in str(e.value)


def test_a_redis_cache_backend_needs_a_redis_url():
    from axtui.config import parse_config

    data = {"providers": {"a": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "deployments": [{"provider": "a", "model": "m"}],
            "routes": {"chat": {"candidates": ["a/m"], "cache": {"backend": "redis"}}}}
    with pytest.raises(ConfigError, match=r'routes.chat.cache.backend: "redis" needs \[redis\]'):
        parse_config(data, "t.toml")


def test_the_url_env_wins_and_a_password_never_shows(monkeypatch):
    monkeypatch.setenv("TEST_AXTUI_REDIS", "redis://:s3cret@127.0.0.1:1/0")
    config = fleet_config(None, key_rpm=10, url_env="TEST_AXTUI_REDIS")
    engine = Engine(config, seed=1)
    fleet = attach(engine, config.redis)
    assert fleet is not None
    assert "s3cret" not in str(fleet.status())
    assert fleet.status()["url"] == "redis://:***@127.0.0.1:1/0"


async def test_a_redis_not_there_at_start_leaves_the_process_counting_alone():
    config = fleet_config(f"redis://127.0.0.1:{free_port()}/0", key_rpm=1)
    engine = Engine(config, seed=1)
    fleet = attach(engine, config.redis)
    assert fleet.quotas.check(None, "k").ok
    assert not fleet.quotas.check(None, "k").ok
    assert fleet.status()["state"] == "down"
    assert not await fleet.poll()
    await fleet.aclose()
    await engine.aclose()
