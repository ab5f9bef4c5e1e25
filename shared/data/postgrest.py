"""The `postgrest` data plane: queries go to the Data API with the caller's own token.

One `AsyncPostgrestClient` per call, sharing the app's `httpx.AsyncClient`: building one costs
microseconds, and it is the only safe way to send each caller's token (`.auth()` would change a
shared client's headers under concurrent requests). The client builds the request; we send it
once (no automatic retries: our own policy decides what to retry) and keep the body as the JSON
text it is, so rows decode straight into typed rows as on the direct plane.
"""

from typing import Any, TypeVar

import httpx
import msgspec
from postgrest import AsyncPostgrestClient, CountMethod, ReturnMethod
from postgrest.exceptions import APIError, APIErrorFromJSON, generate_default_error_message
from pydantic import ValidationError

from shared.config import Settings
from shared.data.failures import RETRY_AFTER, problem_for
from shared.data.query import (
    Delete,
    Filter,
    Insert,
    Order,
    Query,
    Result,
    Rpc,
    Select,
    Update,
    plain,
)
from shared.errors import DatabaseTimeout, DatabaseUnavailable
from shared.identity import Caller

Builder = TypeVar("Builder", bound=Any)


class PostgrestPlane:
    name = "postgrest"

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        if not settings.rest_url or not settings.supabase_anon_key:
            raise ValueError(
                "the postgrest plane needs SUPABASE_URL (or SUPABASE_REST_URL)"
                " and SUPABASE_ANON_KEY"
            )
        self.url = settings.rest_url
        self.anon_key = settings.supabase_anon_key
        self.http = http

    def _client(self, caller: Caller) -> AsyncPostgrestClient:
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "apikey": self.anon_key,
            "Authorization": f"Bearer {caller.token or self.anon_key}",
        }
        return AsyncPostgrestClient(
            self.url, headers=headers, http_client=self.http, retry_enabled=False
        )

    async def run(self, caller: Caller, query: Query) -> Result:
        client = self._client(caller)
        try:
            response: httpx.Response = await _build(client, query).request.send(httpx.Headers())
        except httpx.TimeoutException as error:
            raise DatabaseTimeout(
                "The Data API did not answer in time.", headers=RETRY_AFTER
            ) from error
        except httpx.TransportError as error:
            raise DatabaseUnavailable(headers=RETRY_AFTER) from error
        if not response.is_success:
            refused = _api_error(response)
            raise problem_for(refused.code, refused.message) from refused
        return _result(query, response)

    async def ping(self) -> None:
        try:
            # PostgREST answers its root (the OpenAPI description) only once it has a schema cache.
            response = await self.http.get(
                f"{self.url}/",
                headers={"apikey": self.anon_key, "Accept": "application/openapi+json"},
            )
        except httpx.HTTPError as error:
            raise DatabaseUnavailable() from error
        if response.status_code >= 500:
            raise DatabaseUnavailable()

    async def close(self) -> None:
        """The shared HTTP client belongs to the app, which closes it."""


def _build(client: AsyncPostgrestClient, query: Query) -> Any:
    if isinstance(query, Select):
        builder = client.table(query.table).select(
            *query.columns, count=CountMethod.exact if query.count else None
        )
        builder = _filtered(builder, query.filters)
        for order in query.order:
            builder = _ordered(builder, order)
        if query.limit is not None:
            builder = builder.limit(query.limit)
        if query.offset is not None:
            builder = builder.offset(query.offset)
        return builder
    if isinstance(query, Insert):
        returning = ReturnMethod.representation if query.returning else ReturnMethod.minimal
        rows = plain(query.rows)
        table = client.table(query.table)
        if query.on_conflict:
            builder = table.upsert(
                rows,
                on_conflict=",".join(query.on_conflict),
                ignore_duplicates=query.ignore_duplicates,
                returning=returning,
                default_to_null=True,
            )
        else:
            builder = table.insert(rows, returning=returning)
        return builder.select(*query.columns) if query.returning else builder
    if isinstance(query, Update):
        returning = ReturnMethod.representation if query.returning else ReturnMethod.minimal
        table = client.table(query.table)
        builder = _filtered(table.update(plain(query.values), returning=returning), query.filters)
        return builder.select(*query.columns) if query.returning else builder
    if isinstance(query, Delete):
        returning = ReturnMethod.representation if query.returning else ReturnMethod.minimal
        builder = _filtered(client.table(query.table).delete(returning=returning), query.filters)
        return builder.select(*query.columns) if query.returning else builder
    return client.rpc(query.function, plain(query.args))


def _filtered(builder: Builder, filters: tuple[Filter, ...]) -> Builder:
    for item in filters:
        if item.operator == "in":
            builder = builder.in_(item.column, [_literal(value) for value in item.value])
        elif item.operator == "is":
            builder = builder.is_(item.column, item.value)
        else:
            builder = getattr(builder, item.operator)(item.column, _literal(item.value))
    return builder


def _ordered(builder: Builder, order: Order) -> Builder:
    ordered: Builder = builder.order(
        order.column, desc=order.descending, nullsfirst=order.nulls_first
    )
    return ordered


def _literal(value: Any) -> Any:
    # PostgREST reads filter values as text; booleans must be spelled as Postgres spells them.
    if isinstance(value, bool):
        return "true" if value else "false"
    return plain(value)


def _api_error(response: httpx.Response) -> APIError:
    """The Data API's error, as postgrest-py reads it (its code and message, or the status)."""
    try:
        return APIError(dict(APIErrorFromJSON.model_validate_json(response.content)))
    except ValidationError:
        return APIError(generate_default_error_message(response))


def _result(query: Query, response: httpx.Response) -> Result:
    """Rows as the direct plane gives them. PostgREST answers a function that returns one row
    or plain values without the list or the column name; a row set it returns as is. An empty
    body (`return=minimal`) is no rows."""
    json = response.content or b"[]"
    count = _count(response)
    if not isinstance(query, Rpc):
        return Result(json, count)
    data = msgspec.json.decode(json)
    if isinstance(data, list) and all(isinstance(value, dict) for value in data):
        return Result(json, count)
    values = data if isinstance(data, list) else [data]
    rows = [value if isinstance(value, dict) else {query.function: value} for value in values]
    return Result(None, count, rows=rows)


def _count(response: httpx.Response) -> int | None:
    """The exact count of `Content-Range: 0-9/42`; None where it says `*` (not asked for)."""
    content_range = response.headers.get("content-range")
    total = content_range.rpartition("/")[2] if content_range else "*"
    return None if total == "*" else int(total)
