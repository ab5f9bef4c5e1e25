"""Talking to the schema as clients do: headers for PostgREST calls with the anon key and a
token, and who may execute which SQL function."""

from typing import Any

import psycopg

from tests.conftest import JWT_SECRET
from tests.tenancy import anon_key
from tests.world import bearer

Db = psycopg.Connection[dict[str, Any]]
ROLES = ("anon", "authenticated", "service_role")
COMMITTED = "return=representation"
"""`prefer` for a call that commits and answers the rows it wrote."""


def as_client(token: str, prefer: str = "tx=rollback") -> dict[str, str]:
    """Headers of a PostgREST call with the public anon key and `token`; by default the call's
    transaction is rolled back, so an attack that gets through changes nothing."""
    return {"apikey": anon_key(JWT_SECRET), **bearer(token), "Prefer": prefer}


def executors(db: Db, functions: list[str]) -> dict[str, set[str]]:
    """Which of the API roles may execute each function (given with its argument types)."""
    return {
        function: {
            role
            for role in ROLES
            if db.execute(
                "select has_function_privilege(%s, %s, 'execute') as allowed", (role, function)
            ).fetchone()
            == {"allowed": True}
        }
        for function in functions
    }
