"""The projects service on the session database, once per data plane, with Redis for its caches
and limits under a prefix of each test's own."""

from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.projects.app import create_app
from shared.config import Settings
from tests.conftest import JWT_SECRET
from tests.fakes.redis_fixtures import REDIS_URL
from tests.tenancy import service_role_key

ProjectsClient = AsyncTestClient[Litestar]


@pytest.fixture
def projects_settings(settings: Settings, key_prefix: str) -> Settings:
    """The projects service as deployed: the service role's key, Redis under this test's prefix
    (fresh rate limits and caches)."""
    return msgspec.structs.replace(
        settings,
        supabase_service_role_key=service_role_key(JWT_SECRET),
        redis_url=REDIS_URL,
        redis_key_prefix=key_prefix,
        # Limits are decided by Redis even on a machine busy running the suite in parallel.
        rate_limit_timeout_ms=2000,
    )


@pytest.fixture
async def projects(projects_settings: Settings) -> AsyncIterator[ProjectsClient]:
    async with AsyncTestClient(create_app(projects_settings)) as client:
        yield client
