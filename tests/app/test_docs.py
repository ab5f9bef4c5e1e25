"""The API docs at /schema render offline, and the OpenAPI document describes errors as the
problems every service answers with."""

import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]

EXTERNAL_URL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


async def test_the_docs_page_loads_nothing_from_another_host(probe: Client) -> None:
    page = await probe.get("/schema")

    assert page.status_code == 200
    assert not EXTERNAL_URL.search(page.text)
    assets = ASSET.findall(page.text)
    assert assets
    for path in assets:
        asset = await probe.get(path)
        assert asset.status_code == 200, path
        assert asset.content


async def test_only_the_ui_files_are_served(probe: Client) -> None:
    response = await probe.get("/schema/ui/index.html")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/schema/nothing-here", "/schema/nothing.json"])
async def test_an_unknown_documentation_path_is_a_404_problem(probe: Client, path: str) -> None:
    response = await probe.get(path)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


async def test_a_wrong_method_on_the_docs_is_a_405_problem(probe: Client) -> None:
    response = await probe.post("/schema/openapi.json")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


async def test_the_openapi_document_describes_errors_as_problems(probe: Client) -> None:
    document = (await probe.get("/schema/openapi.json")).json()

    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert {"instance", "errors"} <= set(problem["properties"])
    responses = document["paths"]["/probe/projects"]["post"]["responses"]
    for status in ("400", "default"):
        assert responses[status]["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    assert "status_code" not in str(document)
