"""What the schema tests share: the session database as its owner, and PostgREST in front of it
for attacks made the way a client with the anon key and its own token would make them."""

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.schema.data_api import Db


@pytest.fixture
def db(database_url: str) -> Iterator[Db]:
    """The session database as its owner, each statement committed."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture(scope="module")
def http(postgrest_url: str) -> Iterator[httpx.Client]:
    """PostgREST over the session database."""
    with httpx.Client(base_url=postgrest_url, timeout=30) as client:
        yield client
