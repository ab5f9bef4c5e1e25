"""A data plane that counts what runs through it: the real plane of the test's settings, wrapped
(not patched), so a test can say how many queries a request costs."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from shared.config import Settings
from shared.data.plane import DataPlane, open_data_plane
from shared.data.query import Query, Result
from shared.identity import Caller


class CountingPlane:
    """`plane`, keeping every query it was asked to run."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self.name = plane.name
        self.queries: list[Query] = []

    async def run(self, caller: Caller, query: Query) -> Result:
        self.queries.append(query)
        return await self.plane.run(caller, query)

    async def ping(self) -> None:
        await self.plane.ping()

    async def close(self) -> None:
        await self.plane.close()


@asynccontextmanager
async def counting_plane(settings: Settings) -> AsyncIterator[CountingPlane]:
    """The plane `settings` name, counting, for the duration of the block."""
    async with httpx.AsyncClient(timeout=10) as http:
        plane = CountingPlane(await open_data_plane(settings, http))
        try:
            yield plane
        finally:
            await plane.close()
