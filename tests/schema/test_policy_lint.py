"""A lint over the migrated database's catalog: the rules that keep the Data API safe and fast.

Hosted Supabase exposes every table in `public` to anyone holding the anon key, so these rules
are the security boundary, not style. Each rule is a function returning its offenders; the
tests run them on the real schema, and the self-tests at the bottom prove each one catches a
deliberately bad object (and passes its compliant twin) in a scratch database.
"""

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from shared.migrations import SUPABASE_DIR, migrate
from tests.conftest import JWT_SECRET

Catalog = psycopg.Connection[Any]
Lint = Callable[[Catalog], list[str]]

# Schemas Supabase creates and owns on a hosted project; our migrations never write there.
SUPABASE_SCHEMAS = [
    "auth",
    "extensions",
    "storage",
    "realtime",
    "graphql",
    "graphql_public",
    "vault",
    "pgsodium",
    "pgsodium_masks",
    "supabase_functions",
    "supabase_migrations",
    "net",
    "cron",
    "pgbouncer",
]
EXPOSED_SCHEMAS = ["public"]  # what PostgREST serves (`PGRST_DB_SCHEMAS`, Supabase's default)

# Schemas holding our own objects: everything but the system's and Supabase's.
OUR_SCHEMA = """
    n.nspname not like 'pg\\_%%'
    and n.nspname <> 'information_schema'
    and n.nspname <> all(%(supabase_schemas)s)
"""

# Every privilege the API roles hold on relations in public, table-wide or on single columns.
# PUBLIC (grantee 0) counts: whatever it holds, anon and authenticated hold too.
API_ROLE_RELATION_GRANTS = """
    with api_role(oid, name) as (
        select 0::oid, 'PUBLIC'
        union all
        select oid, rolname::text from pg_roles where rolname in ('anon', 'authenticated')
    ),
    relation_grant(relid, grantee, privilege) as (
        select c.oid, r.name, a.privilege_type
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        -- a null ACL means the built-in default: owner only
        cross join lateral aclexplode(
            coalesce(c.relacl, acldefault(case c.relkind when 'S' then 's' else 'r' end::"char",
                                          c.relowner))) a
        join api_role r on r.oid = a.grantee
        where n.nspname = any(%(exposed_schemas)s)
        union all
        select c.oid, r.name, a.privilege_type || ' (' || att.attname || ')'
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute att on att.attrelid = c.oid and att.attnum > 0 and not att.attisdropped
        cross join lateral aclexplode(att.attacl) a
        join api_role r on r.oid = a.grantee
        where n.nspname = any(%(exposed_schemas)s)
    )
"""


def offenders(catalog: Catalog, query: str) -> list[str]:
    """Run a lint query whose one column names each offender."""
    parameters = {"supabase_schemas": SUPABASE_SCHEMAS, "exposed_schemas": EXPOSED_SCHEMAS}
    rows = catalog.execute(query, parameters).fetchall()
    return sorted(row[0] for row in rows)


# --- Row level security -----------------------------------------------------------------------


def tables_without_row_level_security(catalog: Catalog) -> list[str]:
    return offenders(
        catalog,
        """
        select format('%%I.%%I', n.nspname, c.relname)
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(exposed_schemas)s)
          and c.relkind in ('r', 'p')   -- tables, partitioned tables
          and not c.relrowsecurity
        """,
    )


def policyless_tables_granted_to_api_roles(catalog: Catalog) -> list[str]:
    """A table with RLS but no policy is deliberately closed; then it must grant nothing either."""
    return offenders(
        catalog,
        API_ROLE_RELATION_GRANTS
        + """
        select format('%%I.%%I', n.nspname, c.relname) || ': '
               || string_agg(distinct g.grantee || ' ' || g.privilege, ', ')
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join relation_grant g on g.relid = c.oid
        where c.relkind in ('r', 'p')
          and c.relrowsecurity
          and not exists (select from pg_policy p where p.polrelid = c.oid)
        group by n.nspname, c.relname
        """,
    )


def views_bypassing_row_level_security(catalog: Catalog) -> list[str]:
    """A view runs as its owner unless `security_invoker`, so it would skip the tables' RLS."""
    return offenders(
        catalog,
        """
        select format('%%I.%%I', n.nspname, c.relname)
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(exposed_schemas)s)
          and (c.relkind = 'm'          -- materialized views cannot have RLS at all
               or (c.relkind = 'v'
                   and not coalesce(
                       (select lower(split_part(option, '=', 2)) in ('true', 'on', 'yes', '1')
                        from unnest(c.reloptions) option
                        where option like 'security\\_invoker=%%'),
                       false)))
        """,
    )


# --- Grants -----------------------------------------------------------------------------------


def default_grants_left_on_tables(catalog: Catalog) -> list[str]:
    """TRUNCATE, REFERENCES and TRIGGER are what Supabase's `grant all` default leaves behind."""
    return offenders(
        catalog,
        API_ROLE_RELATION_GRANTS
        + """
        select format('%%I.%%I', n.nspname, c.relname) || ': '
               || string_agg(distinct g.grantee || ' ' || g.privilege, ', ')
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join relation_grant g on g.relid = c.oid
        where c.relkind in ('r', 'p', 'v', 'm', 'f')
          and split_part(g.privilege, ' ', 1) in ('TRUNCATE', 'REFERENCES', 'TRIGGER')
        group by n.nspname, c.relname
        """,
    )


def sequences_granted_to_api_roles(catalog: Catalog) -> list[str]:
    """Identity columns need no sequence privilege; any grant is a default left over."""
    return offenders(
        catalog,
        API_ROLE_RELATION_GRANTS
        + """
        select format('%%I.%%I', n.nspname, c.relname) || ': '
               || string_agg(distinct g.grantee || ' ' || g.privilege, ', ')
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join relation_grant g on g.relid = c.oid
        where c.relkind = 'S'
        group by n.nspname, c.relname
        """,
    )


def functions_executable_by_public(catalog: Catalog) -> list[str]:
    """Postgres grants EXECUTE to PUBLIC on every new function; exposed ones must revoke it."""
    return offenders(
        catalog,
        """
        select format('%%I.%%I(%%s)', n.nspname, p.proname,
                      pg_get_function_identity_arguments(p.oid))
        from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        -- a null ACL means the built-in default, which includes EXECUTE for PUBLIC
        cross join lateral aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
        where n.nspname = any(%(exposed_schemas)s)
          and a.grantee = 0
          and a.privilege_type = 'EXECUTE'
          and not exists (     -- functions of extensions are the extension's business
              select from pg_depend d
              where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
        """,
    )


# --- Policies ---------------------------------------------------------------------------------


def policies_without_roles(catalog: Catalog) -> list[str]:
    """A policy without `to <role>` applies to PUBLIC: every role evaluates it, even anon."""
    return offenders(
        catalog,
        """
        select format('%%I.%%I policy "%%s"', n.nspname, c.relname, p.polname)
        from pg_policy p
        join pg_class c on c.oid = p.polrelid
        join pg_namespace n on n.oid = c.relnamespace
        where """
        + OUR_SCHEMA
        + """
          and 0::oid = any(p.polroles)
        """,
    )


def writes_without_check(catalog: Catalog) -> list[str]:
    """Insert and update policies must say what a written row may look like (`with check`);
    an update policy without one silently reuses its `using`, which reviewers easily misread."""
    return offenders(
        catalog,
        """
        select format('%%I.%%I policy "%%s"', n.nspname, c.relname, p.polname)
        from pg_policy p
        join pg_class c on c.oid = p.polrelid
        join pg_namespace n on n.oid = c.relnamespace
        where """
        + OUR_SCHEMA
        + """
          and p.polcmd in ('a', 'w') and p.polwithcheck is null
        """,
    )


AUTH_CALL = re.compile(r"\bauth\.(?:uid|jwt|role|email)\(\)")
# How Postgres deparses `(select auth.uid())` or `(select auth.jwt() ->> 'x')`:
# `( SELECT auth.uid() AS uid)`, `( SELECT (auth.jwt() ->> 'x'::text))`.
AUTH_CALL_IN_SUBSELECT = re.compile(r"\bSELECT\s+(?:\(\s*)*auth\.(?:uid|jwt|role|email)\(\)")


def auth_calls_outside_subselect(catalog: Catalog) -> list[str]:
    """Bare `auth.uid()` runs once per row; `(select auth.uid())` once per statement (initPlan)."""
    policies = catalog.execute(
        """
        select format('%%I.%%I policy "%%s"', schemaname, tablename, policyname),
               coalesce(qual, '') || ' ' || coalesce(with_check, '')
        from pg_policies
        join pg_namespace n on n.nspname = schemaname
        where """
        + OUR_SCHEMA,
        {"supabase_schemas": SUPABASE_SCHEMAS},
    ).fetchall()
    return sorted(
        policy
        for policy, expressions in policies
        if len(AUTH_CALL.findall(expressions)) != len(AUTH_CALL_IN_SUBSELECT.findall(expressions))
    )


# The caller's user id (`sub`) and guest claim, and the role a branch on each must be limited to.
# Any token signed with the project secret reaches the Data API: an `anon` token that names a user
# in `sub` must match no user's rows, and an `authenticated` one carrying a guest claim no guest's.
READS_USER_ID = re.compile(r"\bauth\.uid\(\)|'sub'")
READS_GUEST_CLAIM = re.compile(r"'guest_session'")
ROLE_COMPARISON = r"\bauth\.role\(\)\s*(?:=|<>|!=|is\s+(?:not\s+)?distinct\s+from)\s*'{role}'"
COMPARES_ROLE_WITH = {
    role: re.compile(ROLE_COMPARISON.format(role=role), re.IGNORECASE)
    for role in ("authenticated", "anon")
}


def id_branches_for_the_wrong_role(catalog: Catalog) -> list[str]:
    """A policy matching on the user id applies to `authenticated` alone, one matching on the
    guest claim to `anon` alone."""
    policies = catalog.execute(
        """
        select format('%%I.%%I policy "%%s"', schemaname, tablename, policyname),
               roles::text[], coalesce(qual, '') || ' ' || coalesce(with_check, '')
        from pg_policies
        join pg_namespace n on n.nspname = schemaname
        where """
        + OUR_SCHEMA,
        {"supabase_schemas": SUPABASE_SCHEMAS},
    ).fetchall()
    return sorted(
        policy
        for policy, roles, expressions in policies
        if (READS_USER_ID.search(expressions) and roles != ["authenticated"])
        or (READS_GUEST_CLAIM.search(expressions) and roles != ["anon"])
    )


def caller_ids_read_without_the_role(catalog: Catalog) -> list[str]:
    """Functions (policy helpers above all) and column defaults see every role: one reading the
    user id compares `auth.role()` with 'authenticated', one reading the guest claim with 'anon'.
    Column defaults call `private.caller_user_id()` / `caller_guest_session()`, which do."""
    sources = catalog.execute(
        """
        select format('%%I.%%I(%%s)', n.nspname, p.proname,
                      pg_get_function_identity_arguments(p.oid)),
               p.prosrc
        from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where not exists (
                select from pg_depend d
                where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
          and """
        + OUR_SCHEMA
        + """
        union all
        select format('%%I.%%I.%%I default', n.nspname, c.relname, att.attname),
               pg_get_expr(def.adbin, def.adrelid)
        from pg_attrdef def
        join pg_class c on c.oid = def.adrelid
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute att on att.attrelid = c.oid and att.attnum = def.adnum
        where """
        + OUR_SCHEMA,
        {"supabase_schemas": SUPABASE_SCHEMAS},
    ).fetchall()
    return sorted(
        name
        for name, source in sources
        if (READS_USER_ID.search(source) and not COMPARES_ROLE_WITH["authenticated"].search(source))
        or (READS_GUEST_CLAIM.search(source) and not COMPARES_ROLE_WITH["anon"].search(source))
    )


# --- Indexes ----------------------------------------------------------------------------------

# `columns` (attnums of `table`) are indexed when some valid index of the table starts with
# exactly those columns, in any order: the planner can then use it to find matching rows.
INDEX_STARTS_WITH = """
    exists (
        select from pg_index i
        where i.indrelid = {table}
          and i.indisvalid
          and (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality({columns})]
              @> {columns}
          and {columns}
              @> (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality({columns})])
"""


def unindexed_policy_columns(catalog: Catalog) -> list[str]:
    """Each column a policy reads (on its own table or in a sub-query) starts an index."""
    return offenders(
        catalog,
        """
        select distinct format('%%I.%%I.%%I', n.nspname, c.relname, att.attname)
        from pg_depend d
        join pg_class c on c.oid = d.refobjid
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute att on att.attrelid = c.oid and att.attnum = d.refobjsubid
        where d.classid = 'pg_policy'::regclass
          and d.refclassid = 'pg_class'::regclass
          and d.refobjsubid > 0
          and """
        + OUR_SCHEMA
        + " and not "
        + INDEX_STARTS_WITH.format(table="c.oid", columns="array[att.attnum]::int2[]"),
    )


def unindexed_foreign_keys(catalog: Catalog) -> list[str]:
    """Without an index, deleting a parent row scans the child and RLS joins crawl."""
    return offenders(
        catalog,
        """
        select format('%%I.%%I(%%s)', n.nspname, c.relname,
                      (select string_agg(quote_ident(att.attname), ', ' order by k.position)
                       from unnest(con.conkey) with ordinality k(attnum, position)
                       join pg_attribute att on att.attrelid = c.oid and att.attnum = k.attnum))
        from pg_constraint con
        join pg_class c on c.oid = con.conrelid
        join pg_namespace n on n.oid = c.relnamespace
        where con.contype = 'f'
          and """
        + OUR_SCHEMA
        + " and not "
        + INDEX_STARTS_WITH.format(table="c.oid", columns="con.conkey"),
    )


# --- Security definer functions ---------------------------------------------------------------

SECURITY_DEFINER_FUNCTION = (
    """
    select format('%%I.%%I(%%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
    from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace
    where p.prosecdef
      and not exists (
          select from pg_depend d
          where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
      and """
    + OUR_SCHEMA
)


def security_definer_functions_without_search_path(catalog: Catalog) -> list[str]:
    """Unpinned, a caller's search_path could swap the objects the owner's privileges reach."""
    return offenders(
        catalog,
        SECURITY_DEFINER_FUNCTION
        + """
          and not exists (
              select from unnest(p.proconfig) setting where setting like 'search\\_path=%%')
        """,
    )


def security_definer_functions_in_exposed_schemas(catalog: Catalog) -> list[str]:
    """In `public`, PostgREST would offer an owner-privileged function as `/rpc/<name>`."""
    return offenders(
        catalog,
        SECURITY_DEFINER_FUNCTION + " and n.nspname = any(%(exposed_schemas)s)",
    )


# --- Functions --------------------------------------------------------------------------------

# What Supabase studio shows a reviewer of a function: who owns it and who calls it, as whom.
OWNER_COMMENT = re.compile(r"^Owner: [a-z]+\. Called by: .+\.$", re.DOTALL)


def functions_without_owner_comment(catalog: Catalog) -> list[str]:
    """`comment on function ... is 'Owner: <service>. Called by: <who> (as <role>).'`"""
    functions = catalog.execute(
        """
        select format('%%I.%%I(%%s)', n.nspname, p.proname,
                      pg_get_function_identity_arguments(p.oid)),
               coalesce(obj_description(p.oid, 'pg_proc'), '')
        from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where not exists (
                select from pg_depend d
                where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
          and """
        + OUR_SCHEMA,
        {"supabase_schemas": SUPABASE_SCHEMAS},
    ).fetchall()
    return sorted(name for name, comment in functions if not OWNER_COMMENT.match(comment))


# --- Size limits ------------------------------------------------------------------------------


def client_writable_columns_without_size_limit(catalog: Catalog) -> list[str]:
    """Every text or jsonb column anon or authenticated may insert or update is named by a check
    constraint (its size limit), or a client stores megabytes through the Data API."""
    return offenders(
        catalog,
        """
        select format('%%I.%%I.%%I', n.nspname, c.relname, att.attname)
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute att on att.attrelid = c.oid and att.attnum > 0 and not att.attisdropped
        where n.nspname = any(%(exposed_schemas)s)
          and c.relkind in ('r', 'p')
          and att.attgenerated = ''
          and (att.atttypid in ('text'::regtype, 'text[]'::regtype, 'json'::regtype,
                                'jsonb'::regtype, 'jsonb[]'::regtype)
               or (att.atttypid in ('character varying'::regtype, 'character varying[]'::regtype)
                   and att.atttypmod < 0))
          and exists (
              select from unnest(array['anon', 'authenticated']) api_role(name)
              cross join unnest(array['INSERT', 'UPDATE']) privilege(name)
              where has_column_privilege(api_role.name, c.oid, att.attnum, privilege.name))
          and not exists (
              select from pg_constraint con
              where con.conrelid = c.oid and con.contype = 'c' and att.attnum = any(con.conkey))
        """,
    )


# --- The rules, on the migrated schema --------------------------------------------------------


@pytest.fixture(scope="module")
def catalog(database_url: str) -> Iterator[Catalog]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


# Each rule with what its offenders are, as the failure message names them.
SCHEMA_RULES: list[tuple[Lint, str]] = [
    (tables_without_row_level_security, "tables in public without row level security"),
    (
        policyless_tables_granted_to_api_roles,
        "tables without any policy that still grant to anon/authenticated/PUBLIC",
    ),
    (
        views_bypassing_row_level_security,
        "views in public without security_invoker (or materialized)",
    ),
    (
        default_grants_left_on_tables,
        "tables where anon/authenticated/PUBLIC keep TRUNCATE, REFERENCES or TRIGGER "
        "(revoke all, then grant back)",
    ),
    (sequences_granted_to_api_roles, "sequences granted to anon/authenticated/PUBLIC"),
    (
        functions_executable_by_public,
        "functions in public still executable by PUBLIC (revoke execute ... from public)",
    ),
    (policies_without_roles, "policies without `to <role>`"),
    (writes_without_check, "insert or update policies without `with check`"),
    (
        auth_calls_outside_subselect,
        "policies calling auth.uid()/jwt()/role()/email() outside `(select ...)`",
    ),
    (
        id_branches_for_the_wrong_role,
        "policies matching the user id not `to authenticated` alone, or the guest claim not "
        "`to anon` alone",
    ),
    (
        caller_ids_read_without_the_role,
        "functions or column defaults reading the user id or guest claim without comparing "
        "auth.role() with 'authenticated' / 'anon'",
    ),
    (unindexed_policy_columns, "policy columns that start no index"),
    (unindexed_foreign_keys, "foreign keys whose columns start no index"),
    (
        security_definer_functions_without_search_path,
        "security definer functions without `set search_path`",
    ),
    (security_definer_functions_in_exposed_schemas, "security definer functions in public"),
    (
        functions_without_owner_comment,
        "functions without `comment on function ... is 'Owner: <service>. Called by: ...'`",
    ),
    (
        client_writable_columns_without_size_limit,
        "text/jsonb columns anon or authenticated may write that no check constraint names",
    ),
]


@pytest.mark.parametrize(
    ("lint", "offenders_are"), SCHEMA_RULES, ids=[lint.__name__ for lint, _ in SCHEMA_RULES]
)
def test_schema_obeys(catalog: Catalog, lint: Lint, offenders_are: str) -> None:
    offending = lint(catalog)
    assert not offending, f"{offenders_are}:" + "".join(f"\n  {o}" for o in offending)


def test_private_schema_is_not_served(catalog: Catalog, postgrest_url: str) -> None:
    # given a signed-in user, and every helper function the private schema holds but for
    # those a public wrapper of the same name deliberately serves
    token = jwt.encode(
        {"role": "authenticated", "sub": "00000000-0000-4000-8000-000000000001"}, JWT_SECRET
    )
    helpers = catalog.execute(
        "select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname = 'private'"
        "   and not exists (select from pg_proc w join pg_namespace wn on wn.oid = w.pronamespace"
        "                   where wn.nspname = 'public' and w.proname = p.proname)"
    ).fetchall()
    with httpx.Client(base_url=postgrest_url, headers={"Authorization": f"Bearer {token}"}) as api:
        # when they ask for the schema, or call its functions through the Data API
        profile = api.get("/", headers={"Accept-Profile": "private"})
        calls = {name: api.post(f"/rpc/{name}", json={}) for (name,) in helpers}

    # then PostgREST knows neither
    assert (profile.status_code, profile.json()["code"]) == (406, "PGRST106")
    reachable = {
        name: f"{call.status_code} {call.text}"
        for name, call in calls.items()
        if (call.status_code, call.json().get("code")) != (404, "PGRST202")
    }
    assert not reachable, f"private functions reachable through PostgREST: {reachable}"


# --- Self-tests: each rule catches a bad object and passes its good twin ----------------------

LINT_SELF_TESTS: list[tuple[Lint, str, list[str]]] = [
    (
        tables_without_row_level_security,
        """
        create table public.good (id int primary key);
        alter table public.good enable row level security;
        create table public.bad (id int primary key);
        """,
        ["public.bad"],
    ),
    (
        policyless_tables_granted_to_api_roles,
        """
        create table public.good_closed (id int primary key);
        alter table public.good_closed enable row level security;
        revoke all on public.good_closed from anon, authenticated;
        create table public.good_open (id int primary key);
        alter table public.good_open enable row level security;
        revoke all on public.good_open from anon, authenticated;
        grant select on public.good_open to authenticated;
        create policy "read" on public.good_open for select to authenticated using (true);
        create table public.bad (id int primary key, secret text);
        alter table public.bad enable row level security;
        revoke all on public.bad from anon, authenticated;
        grant select (id) on public.bad to anon;
        """,
        ["public.bad: anon SELECT (id)"],
    ),
    (
        views_bypassing_row_level_security,
        """
        create view public.good with (security_invoker = on) as select 1 as one;
        create view public.bad as select 1 as one;
        create materialized view public.bad_materialized as select 1 as one;
        """,
        ["public.bad", "public.bad_materialized"],
    ),
    (
        default_grants_left_on_tables,
        """
        create table public.good (id int primary key);
        revoke all on public.good from anon, authenticated;
        grant select, insert, update, delete on public.good to authenticated;
        create table public.bad (id int primary key);
        revoke truncate, trigger on public.bad from anon, authenticated;
        """,
        ["public.bad: anon REFERENCES, authenticated REFERENCES"],
    ),
    (
        sequences_granted_to_api_roles,
        """
        create table public.good (id bigint generated always as identity primary key);
        revoke all on sequence public.good_id_seq from anon, authenticated;
        create sequence public.bad;
        revoke all on sequence public.bad from anon;
        revoke select, update on sequence public.bad from authenticated;
        """,
        ["public.bad: authenticated USAGE"],
    ),
    (
        functions_executable_by_public,
        """
        create function public.good(n int) returns int language sql as 'select n';
        revoke execute on function public.good(int) from public;
        create function public.bad(n int, m text) returns int language sql as 'select n';
        """,
        ["public.bad(n integer, m text)"],
    ),
    (
        policies_without_roles,
        """
        create table public.notes (id int primary key);
        create policy "good" on public.notes for select to authenticated using (true);
        create policy "bad" on public.notes for select using (true);
        """,
        ['public.notes policy "bad"'],
    ),
    (
        writes_without_check,
        """
        create table public.notes (id int primary key, owner uuid);
        create policy "good" on public.notes for update to authenticated
            using (owner = (select auth.uid())) with check (owner = (select auth.uid()));
        create policy "bad" on public.notes for update to authenticated
            using (owner = (select auth.uid()));
        """,
        ['public.notes policy "bad"'],
    ),
    (
        auth_calls_outside_subselect,
        """
        create table public.notes (id int primary key, owner uuid, team text);
        create policy "good uid" on public.notes for select to authenticated
            using (owner = (select auth.uid()));
        create policy "good jwt" on public.notes for update to authenticated
            using ((select auth.jwt() ->> 'team') = team)
            with check ((select (auth.jwt() -> 'app') ->> 'team') = team);
        create policy "bad uid" on public.notes for delete to authenticated
            using (owner = auth.uid());
        create policy "bad mixed" on public.notes for insert to authenticated
            with check (owner = (select auth.uid()) and auth.role() = 'authenticated');
        """,
        ['public.notes policy "bad mixed"', 'public.notes policy "bad uid"'],
    ),
    (
        id_branches_for_the_wrong_role,
        """
        create table public.notes (id int primary key, owner uuid, guest text);
        create policy "good user" on public.notes for select to authenticated
            using (owner = (select auth.uid()));
        create policy "good guest" on public.notes for select to anon
            using (guest = (select auth.jwt() ->> 'guest_session'));
        create policy "bad user for anon" on public.notes for update to anon
            using (owner = (select auth.uid())) with check (true);
        create policy "bad user for both" on public.notes for delete to anon, authenticated
            using (owner = (select (auth.jwt() ->> 'sub')::uuid));
        create policy "bad guest for users" on public.notes for insert to authenticated
            with check (guest = (select auth.jwt() ->> 'guest_session'));
        """,
        [
            'public.notes policy "bad guest for users"',
            'public.notes policy "bad user for anon"',
            'public.notes policy "bad user for both"',
        ],
    ),
    (
        caller_ids_read_without_the_role,
        """
        create schema private;
        create function private.good_user() returns uuid language sql stable
            set search_path = ''
            as $$ select case when auth.role() = 'authenticated' then auth.uid() end $$;
        create function private.good_guest() returns text language sql stable
            set search_path = ''
            as $$ select case when auth.role() = 'anon' then auth.jwt() ->> 'guest_session' end $$;
        create function private.bad_user() returns uuid language sql stable
            set search_path = '' as $$ select auth.uid() $$;
        create function private.bad_guest_for_users() returns text language sql stable
            set search_path = ''
            as $$ select case when auth.role() = 'authenticated'
                              then auth.jwt() ->> 'guest_session' end $$;
        create table public.notes (
            id int primary key, good uuid default private.good_user(), bad uuid default auth.uid());
        """,
        ["private.bad_guest_for_users()", "private.bad_user()", "public.notes.bad default"],
    ),
    (
        unindexed_policy_columns,
        """
        create table public.teams (id int primary key, owner uuid, name text);
        create index on public.teams (owner);
        create table public.notes (id int primary key, team int, author uuid);
        create index on public.notes (author, team);
        create policy "team notes" on public.notes for select to authenticated
            using (author = (select auth.uid())
                   or exists (select from public.teams t
                              where t.id = notes.team and t.owner = (select auth.uid())));
        create policy "named teams" on public.teams for select to authenticated
            using (name is not null);
        """,
        ["public.notes.team", "public.teams.name"],
    ),
    (
        unindexed_foreign_keys,
        """
        create table public.parent (id int primary key, a int, b int, unique (a, b));
        create table public.good (id int primary key, parent int references public.parent);
        create index on public.good (parent);
        create table public.good_pair (a int, b int,
            foreign key (a, b) references public.parent (a, b));
        create index on public.good_pair (b, a);
        create table public.bad (id int primary key, parent int references public.parent);
        create index on public.bad (id, parent);
        create table public.bad_pair (a int, b int,
            foreign key (a, b) references public.parent (a, b));
        create index on public.bad_pair (a);
        """,
        ["public.bad(parent)", "public.bad_pair(a, b)"],
    ),
    (
        security_definer_functions_without_search_path,
        """
        create schema private;
        create function private.good() returns int language sql security definer
            set search_path = '' as 'select 1';
        create function private.bad() returns int language sql security definer as 'select 1';
        create function private.invoker() returns int language sql as 'select 1';
        create function auth.supabase_owned() returns int language sql security definer
            as 'select 1';
        """,
        ["private.bad()"],
    ),
    (
        security_definer_functions_in_exposed_schemas,
        """
        create schema private;
        create function private.good() returns int language sql security definer
            set search_path = '' as 'select 1';
        create function public.bad() returns int language sql security definer
            set search_path = '' as 'select 1';
        """,
        ["public.bad()"],
    ),
    (
        functions_without_owner_comment,
        """
        create schema private;
        create function private.good() returns int language sql as 'select 1';
        comment on function private.good() is 'Owner: billing. Called by: projects (as the user).';
        create function private.bad() returns int language sql as 'select 1';
        create function public.bad_wording(n int) returns int language sql as 'select n';
        comment on function public.bad_wording(int) is 'Adds nothing.';
        """,
        ["private.bad()", "public.bad_wording(n integer)"],
    ),
    (
        client_writable_columns_without_size_limit,
        """
        create table public.notes (
            id int primary key,
            title text constraint notes_title_length check (length(title) <= 200),
            body jsonb,
            tags text[],
            code varchar(10),
            server_note text
        );
        revoke all on public.notes from anon, authenticated;
        grant insert (id, title, body) on public.notes to authenticated;
        grant update (tags, code) on public.notes to anon;
        grant update (server_note) on public.notes to service_role;
        create table public.wide_open (id int primary key, note text);
        """,
        ["public.notes.body", "public.notes.tags", "public.wide_open.note"],
    ),
]


@pytest.mark.parametrize(
    ("lint", "objects", "expected"),
    LINT_SELF_TESTS,
    ids=[lint.__name__ for lint, _, _ in LINT_SELF_TESTS],
)
def test_lint_catches_violation(
    empty_database: str, tmp_path: Path, lint: Lint, objects: str, expected: list[str]
) -> None:
    # given a project bootstrapped like ours whose one migration makes a good and a bad object
    project = tmp_path / "supabase"
    (project / "migrations").mkdir(parents=True)
    (project / "local").symlink_to(SUPABASE_DIR / "local")
    (project / "migrations" / "1_objects.sql").write_text(objects)
    migrate(empty_database, project)

    # when the lint runs, then it names exactly the bad ones
    with psycopg.connect(empty_database, autocommit=True) as scratch:
        assert lint(scratch) == expected
