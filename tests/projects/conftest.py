"""The projects service on the session database, once per data plane."""

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.projects.app import create_app
from shared.config import Settings


@pytest.fixture
async def projects(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(create_app(settings)) as client:
        yield client
