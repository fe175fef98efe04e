"""The runtime host evaluates alerts as a job on its clock and delivers webhooks from their
own thread; a one-shot `axtui route` host evaluates nothing."""

from __future__ import annotations

import asyncio

from axtui.alerts.rules import AlertingConfig, WebhookConfig
from axtui.cli import demo
from axtui.clock import VirtualClock
from axtui.config import load_config
from axtui.runtime import RuntimeHost
from tests.alerts.receiver import Receiver


def test_the_demo_host_posts_the_mistral_alert_to_a_webhook(tmp_path):
    with Receiver() as rx:
        cfg = load_config()
        hook = WebhookConfig(name="oncall", url=rx.url + "/hook", format="json")
        cfg = cfg.model_copy(update={"alerting": AlertingConfig(webhooks=[hook])})
        demo._run(cfg, 200, 200 / 300, demo.DEMO_MIX, 7, f"sqlite:///{tmp_path}/d.db", None)
        # the host's stop waited for the notifier: every POST has arrived
        posts = []
        while not rx.received.empty():
            posts.append(rx.next()[2])
    mistral = [p["status"] for p in posts if p["alert"]["rule"] == "mistral-errors"]
    assert mistral == ["firing", "resolved"]


def test_a_route_host_runs_no_alert_job(tmp_path):
    async def main():
        host = RuntimeHost(load_config(), face="route", store_url=f"sqlite:///{tmp_path}/r.db",
                           clock=VirtualClock(), recorder="thread")
        await host.start()
        try:
            return host.alerts, [j.name for j in host.stats().jobs]
        finally:
            await host.stop()

    alerts, jobs = asyncio.run(main())
    assert alerts is None and "alerts" not in jobs
