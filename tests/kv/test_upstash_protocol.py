"""The Upstash test server speaks the REST protocol the real upstash-redis client expects."""

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from upstash_redis.asyncio import Redis as UpstashRedis
from upstash_redis.errors import UpstashError

from tests.fakes.redis_fixtures import UPSTASH_TOKEN
from tests.fakes.upstash_server import UpstashServer

AUTHORIZED = {"Authorization": f"Bearer {UPSTASH_TOKEN}"}


@pytest.fixture
async def client(upstash_server: UpstashServer) -> AsyncIterator[UpstashRedis]:
    """The real client with its defaults (base64 responses), minus retries and telemetry."""
    client = UpstashRedis(upstash_server.url, UPSTASH_TOKEN, rest_retries=0, allow_telemetry=False)
    yield client
    await client.close()


@pytest.fixture
async def http(upstash_server: UpstashServer) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the server, to check the wire format itself."""
    async with httpx.AsyncClient(base_url=upstash_server.url) as http:
        yield http


async def test_a_value_set_is_read_back_unchanged(client: UpstashRedis, key_prefix: str) -> None:
    # given a value with non-ASCII text, which travels base64-encoded
    await client.set(f"{key_prefix}greeting", "hej då, 世界", ex=60)

    # when / then
    assert await client.get(f"{key_prefix}greeting") == "hej då, 世界"


async def test_a_pipeline_returns_each_commands_result_in_order(
    client: UpstashRedis, key_prefix: str
) -> None:
    pipeline = client.pipeline()
    pipeline.set(f"{key_prefix}n", "1")
    pipeline.incr(f"{key_prefix}n")
    pipeline.get(f"{key_prefix}n")

    assert await pipeline.exec() == [True, 2, "2"]


async def test_a_failing_command_in_a_pipeline_does_not_stop_the_others(
    http: httpx.AsyncClient, key_prefix: str
) -> None:
    key = f"{key_prefix}word"

    response = await http.post(
        "/pipeline", json=[["SET", key, "x"], ["INCR", key], ["GET", key]], headers=AUTHORIZED
    )

    assert response.json() == [
        {"result": "OK"},
        {"error": "ERR value is not an integer or out of range"},
        {"result": "x"},
    ]


async def test_a_transaction_returns_each_commands_result(
    client: UpstashRedis, key_prefix: str
) -> None:
    transaction = client.multi()
    transaction.set(f"{key_prefix}n", "41")
    transaction.incr(f"{key_prefix}n")

    assert await transaction.exec() == [True, 42]


async def test_a_transaction_redis_refuses_applies_nothing(
    http: httpx.AsyncClient, client: UpstashRedis, key_prefix: str
) -> None:
    # given a transaction whose second command Redis will not queue
    commands = [["SET", f"{key_prefix}k", "v"], ["NOSUCHCOMMAND"]]

    # when
    response = await http.post("/multi-exec", json=commands, headers=AUTHORIZED)

    # then the whole transaction is discarded
    assert (response.status_code, await client.get(f"{key_prefix}k")) == (400, None)
    assert response.json()["error"].startswith("EXECABORT")


async def test_a_script_evaluated_once_then_runs_by_its_sha(
    client: UpstashRedis, key_prefix: str
) -> None:
    script = f"-- {key_prefix}\nreturn {{KEYS[1], ARGV[1]}}"
    sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()

    first = await client.eval(script, [f"{key_prefix}k"], ["v"])
    again = await client.evalsha(sha, [f"{key_prefix}k"], ["w"])

    assert (first, again) == ([f"{key_prefix}k", "v"], [f"{key_prefix}k", "w"])


async def test_an_unknown_script_sha_fails_with_noscript(client: UpstashRedis) -> None:
    with pytest.raises(UpstashError, match=r"^NOSCRIPT No matching script"):
        await client.evalsha("0" * 40, [], [])


async def test_a_client_with_the_wrong_token_is_refused(upstash_server: UpstashServer) -> None:
    intruder = UpstashRedis(upstash_server.url, "not-the-token", rest_retries=0)

    with pytest.raises(UpstashError, match="Unauthorized"):
        await intruder.get("anything")
    await intruder.close()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-the-token"}, {"Authorization": UPSTASH_TOKEN}],
    ids=["missing", "wrong", "not_bearer"],
)
async def test_a_request_without_the_bearer_token_gets_401(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await http.post("/", json=["PING"], headers=headers)

    assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"})


NESTED_REPLY = "return {'hello', {'world', 7, false}, redis.status_reply('OK')}"


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ({"Upstash-Encoding": "base64"}, ["aGVsbG8=", ["d29ybGQ=", 7, None], "OK"]),
        ({}, ["hello", ["world", 7, None], "OK"]),
    ],
    ids=["base64", "plain"],
)
async def test_strings_are_base64_encoded_at_every_depth_except_ok_when_asked(
    http: httpx.AsyncClient, encoding: dict[str, str], expected: list[Any]
) -> None:
    response = await http.post(
        "/", json=["EVAL", NESTED_REPLY, 0], headers={**AUTHORIZED, **encoding}
    )

    assert response.json() == {"result": expected}
