"""Every error a service gives is an RFC 9457 problem with a stable code and nothing internal."""

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.app.conftest import SECRET_IN_ERROR
from tests.world import a_user, bearer

Client = AsyncTestClient[Litestar]


async def test_a_raised_problem_keeps_its_status_code_and_headers(probe: Client) -> None:
    response = await probe.get("/probe/taken")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-probe"] == "yes"
    assert response.json() == {
        "type": "https://sajtmaskin.se/problems/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "A project with that name already exists.",
        "code": "conflict",
        "instance": "/probe/taken",
    }


async def test_a_field_of_the_wrong_type_is_named_in_a_422(probe: Client) -> None:
    response = await probe.post("/probe/projects", json={"projectName": 7, "pageCount": 1})

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert problem["errors"] == [
        {"field": "projectName", "in": "body", "message": "Expected `str`, got `int`"}
    ]


async def test_a_missing_field_is_named_in_a_422(probe: Client) -> None:
    response = await probe.post("/probe/projects", json={"projectName": "Bageriet"})

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["pageCount"]


async def test_malformed_json_is_a_400(probe: Client) -> None:
    response = await probe.post(
        "/probe/projects", content=b'{"projectName": ', headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


async def test_an_unknown_route_is_a_404_problem(probe: Client) -> None:
    response = await probe.get("/probe/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"
    assert response.json()["instance"] == "/probe/nothing-here"


async def test_a_wrong_method_is_a_405_problem_naming_the_allowed_ones(probe: Client) -> None:
    response = await probe.delete("/probe/taken")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


async def test_an_unexpected_error_is_a_500_that_reveals_nothing(probe: Client) -> None:
    response = await probe.get("/probe/crash")

    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert SECRET_IN_ERROR not in response.text


async def test_a_malformed_token_is_a_401_problem(probe: Client) -> None:
    response = await probe.get("/probe/whoami", headers={"Authorization": "Bearer not-a-jwt"})

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_the_caller_dependency_verifies_a_user_token(
    probe: Client, database_url: str
) -> None:
    alice = a_user(database_url)

    response = await probe.get("/probe/whoami", headers=bearer(alice))

    assert response.json() == {"kind": "user", "userId": alice.user_id}


async def test_handlers_receive_the_data_plane_and_the_settings(probe: Client) -> None:
    response = await probe.get("/probe/wiring")

    assert response.json() == {"plane": "postgres", "audience": "authenticated"}
