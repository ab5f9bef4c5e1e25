"""Bad input on any route is a 4xx problem: bodies nested too deeply are a 400, and an invalid
body is a 422 naming every missing, unknown and invalid field at once."""

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]

DEEPLY_NESTED = b"[" * 100_000 + b"]" * 100_000
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("path", ["/probe/projects", "/probe/anything"])
async def test_a_deeply_nested_body_is_a_400_not_a_crash(probe: Client, path: str) -> None:
    response = await probe.post(path, content=DEEPLY_NESTED, headers=JSON)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert response.json()["detail"] == "The JSON body is nested too deeply."


async def test_an_unknown_field_is_refused_by_name(probe: Client) -> None:
    response = await probe.post(
        "/probe/projects", json={"projectName": "Bageriet", "pageCount": 3, "diamonds": 9999}
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "diamonds", "in": "body", "message": "Unknown field"}
    ]


async def test_every_invalid_field_is_reported_at_once(probe: Client) -> None:
    response = await probe.post(
        "/probe/projects", json={"pageCount": 0, "palette": ["#fff", 7], "admin": True}
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"] == [
        {"field": "projectName", "in": "body", "message": "Required"},
        {"field": "pageCount", "in": "body", "message": "Expected `int` >= 1"},
        {"field": "palette[1]", "in": "body", "message": "Expected `str`, got `int`"},
        {"field": "admin", "in": "body", "message": "Unknown field"},
    ]
    assert problem["detail"] == "Invalid: projectName, pageCount, palette[1], admin."


async def test_a_body_that_is_not_an_object_is_one_error(probe: Client) -> None:
    response = await probe.post("/probe/projects", json=["Bageriet", 3])

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": None, "in": "body", "message": "Expected `object`, got `array`"}
    ]


async def test_a_missing_body_is_named(probe: Client) -> None:
    response = await probe.post("/probe/projects")

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": None, "in": "body", "message": "A request body is required"}
    ]
