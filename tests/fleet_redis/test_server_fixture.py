from __future__ import annotations

import redis


def test_the_fixture_runs_a_real_server_without_persistence(redis_url):
    client = redis.Redis.from_url(redis_url)
    assert client.ping()
    assert client.config_get("save")["save"] == ""
    assert client.config_get("appendonly")["appendonly"] == "no"
    client.close()


def test_a_restarted_server_answers_on_the_same_port_and_has_forgotten_everything(own_redis):
    client = redis.Redis.from_url(own_redis.url)
    client.set("k", "v")
    own_redis.restart()
    assert client.get("k") is None  # the pool reconnects; nothing was saved
    client.close()
