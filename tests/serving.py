"""Apps served in the test's own event loop, for requests that must really run at once."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
from litestar import Litestar


@asynccontextmanager
async def serving(app: Litestar, peer: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` in the test's own event loop, the app's lifespan running: requests sent
    together are served together, each arriving from the socket address `peer`. (Litestar's
    AsyncTestClient serves one request at a time through a blocking portal, so requests "at
    once" through it are not.)"""
    async with (
        app.lifespan(),
        httpx.AsyncClient(
            # Litestar types ASGI events precisely, httpx as plain mappings: the same protocol.
            transport=httpx.ASGITransport(app=cast(Any, app), client=(peer, 40000)),
            base_url="http://testserver.local",
        ) as client,
    ):
        yield client
