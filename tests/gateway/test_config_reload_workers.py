"""SIGHUP to `axtui serve --workers 2`: the supervisor forwards it, each worker re-reads the
config file, applies it, and audits its own reload; the new route serves at once."""

from __future__ import annotations

import os
import signal

import openai

from axtui.store import open_store

from .fleet import Fleet, fake_upstream, wait_for
from .test_workers import CONFIG


def test_sighup_to_the_supervisor_reloads_every_worker(tmp_path):
    url = f"sqlite:///{tmp_path}/fleet.db"
    config = tmp_path / "axtui.toml"
    with fake_upstream() as up:
        config.write_text(CONFIG.format(url=url, upstream=up.base_url))
        fleet = Fleet(config, 2)
        try:
            config.write_text(CONFIG.format(url=url, upstream=up.base_url)
                              + '[routes.chat2]\ncandidates = ["up/gpt-fake"]\n')
            os.kill(fleet.proc.pid, signal.SIGHUP)
            fleet.wait_line(lambda s: "2 workers reload the config" in s)

            def events() -> list:
                store = open_store(url)
                try:
                    return store.events(kind="config_reload", limit=10)
                finally:
                    store.close()

            found = wait_for(lambda: len(events()) >= 2 and events(), what="two reload events")
            assert len({e.subject for e in found}) == 2  # one per worker
            assert all(e.detail["ok"] and e.detail["diff"]["routes"]["added"] == ["chat2"]
                       for e in found)
            # the workers' --grace (the supervisor's) is not mistaken for a changed [gateway]
            assert all(e.detail["restart_required"] == {} for e in found)
            with openai.OpenAI(base_url=fleet.base_url, api_key="none", max_retries=0,
                               timeout=30) as client:
                for _ in range(6):  # whichever worker answers
                    r = client.chat.completions.create(
                        model="chat2", messages=[{"role": "user", "content": "hi"}])
                    assert r.choices[0].message.content
            assert fleet.stop() == 0
        finally:
            fleet.kill()
