"""Shared fixtures for provider adapter tests: the one HTTP client (aiohttp transport)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from axtui.providers.transport import make_http_client


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    client = make_http_client()
    yield client
    await client.aclose()
