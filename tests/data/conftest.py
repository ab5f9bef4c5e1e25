"""A database of its own for the data-plane tests: the real schema plus a few test functions,
served by its own PostgREST, and one fixture that yields each plane in turn."""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from psycopg.conninfo import make_conninfo

from shared.data.plane import DataPlane, open_data_plane
from shared.identity import Caller
from shared.local_stack import PostgrestServer
from shared.migrations import SUPABASE_DIR, migrate
from tests.conftest import JWT_SECRET, PLANES, create_database, drop_database, plane_settings
from tests.world import a_user

# Functions the Data API serves as /rpc, to exercise `Rpc`, a rule's refusal and a statement
# timeout on both planes, a table of the value types repositories write without stringifying
# them, and a view of the transaction a query runs in.
TEST_FUNCTIONS = """
create function public.app_project_names(prefix text)
returns table (id uuid, name text)
language sql stable
as $$
  select id, name from public.app_projects where name like prefix || '%' order by name
$$;
revoke execute on function public.app_project_names(text) from public;
grant execute on function public.app_project_names(text) to authenticated;

create function public.site_count() returns integer
language sql stable
as $$ select count(*)::integer from public.app_projects $$;
revoke execute on function public.site_count() from public;
grant execute on function public.site_count() to authenticated;

create table public.typed_values (
  id uuid primary key,
  day date,
  amount numeric,
  at timestamptz,
  details jsonb
);
alter table public.typed_values enable row level security;
grant select, insert, update, delete on public.typed_values to service_role;

create function public.typed_echo(p_id uuid, p_day date, p_amount numeric, p_at timestamptz)
returns table (id uuid, day date, amount numeric, at timestamptz)
language sql stable
as $$ select p_id, p_day, p_amount, p_at $$;
revoke execute on function public.typed_echo(uuid, date, numeric, timestamptz) from public;
grant execute on function public.typed_echo(uuid, date, numeric, timestamptz) to authenticated;

create view public.transaction_state with (security_invoker = true) as
  select current_user as role, current_setting('transaction_read_only') as read_only,
         current_setting('transaction_isolation') as isolation;
grant select on public.transaction_state to authenticated;

create function public.transaction_state() returns setof public.transaction_state
language sql volatile
as $$ select * from public.transaction_state $$;
revoke execute on function public.transaction_state() from public;
grant execute on function public.transaction_state() to authenticated;

create function public.refuse_by_rule() returns integer
language plpgsql
as $$ begin raise exception using errcode = 'PT409', message = 'test_limit_reached'; end $$;
revoke execute on function public.refuse_by_rule() from public;
grant execute on function public.refuse_by_rule() to authenticated;

create function public.slow_answer() returns integer
language sql
set statement_timeout = '200ms'
as $$ select 42 from pg_sleep(2) $$;
revoke execute on function public.slow_answer() from public;
grant execute on function public.slow_answer() to authenticated;
"""


@pytest.fixture(scope="session")
def data_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    project = tmp_path_factory.mktemp("supabase")
    (project / "local").symlink_to(SUPABASE_DIR / "local")
    migrations = project / "migrations"
    migrations.mkdir()
    for path in (SUPABASE_DIR / "migrations").glob("*.sql"):
        (migrations / path.name).symlink_to(path)
    (migrations / "99990101000000_test_functions.sql").write_text(TEST_FUNCTIONS)
    name = f"sajtmaskin_test_{uuid.uuid4().hex[:12]}"
    url = create_database(name)
    migrate(url, Path(project))
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def data_postgrest(data_database: str) -> Iterator[str]:
    with PostgrestServer(
        make_conninfo(data_database, user="authenticator"), jwt_secret=JWT_SECRET
    ) as server:
        yield server.url


@pytest.fixture(params=PLANES)
async def data(
    request: pytest.FixtureRequest, data_database: str, data_postgrest: str
) -> AsyncIterator[DataPlane]:
    """Each test using this runs once per plane; the ids say which."""
    async with httpx.AsyncClient(timeout=5) as http:
        # A short statement timeout, which the timeout test relies on (PostgREST takes it from
        # the function's own `set statement_timeout`).
        settings = plane_settings(
            request.param, data_database, data_postgrest, statement_timeout_ms=200
        )
        plane = await open_data_plane(settings, http)
        try:
            yield plane
        finally:
            await plane.close()


@pytest.fixture
def owner(data_database: str) -> Caller:
    """A fresh user of the data database, so each test owns rows nobody else touches."""
    return a_user(data_database).caller
