"""The API documentation at /schema: the OpenAPI document and Swagger UI, served offline.

Swagger UI's scripts and styles come from the `swagger-ui-bundle-v2` package (installed from
PyPI with the service) and are served by the service itself under /schema/ui/, so the docs render
on a machine without internet and no page of ours loads code from a CDN. Error responses are
documented as problems (`shared.problems.document_problems`).
"""

from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]
from litestar import Response, Router, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import FromPath
from litestar.response import File

from shared.errors import NotFound

DOCS_PATH = "/schema"
ASSETS_PATH = "/ui"
ASSETS_DIR = Path(swagger_ui_bundle.swagger_ui_path)
ASSETS = frozenset(
    {
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
        "favicon-32x32.png",
    }
)


class OfflineSwaggerUI(SwaggerRenderPlugin):
    """Swagger UI from the installed package's files, served by this app."""

    def __init__(self) -> None:
        assets = f"{DOCS_PATH}{ASSETS_PATH}"
        super().__init__(
            js_url=f"{assets}/swagger-ui-bundle.js",
            css_url=f"{assets}/swagger-ui.css",
            standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{assets}/favicon-32x32.png'>",
            path="/swagger",
        )

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)
        router.register(swagger_ui_asset)


@get(f"{ASSETS_PATH}/{{name:str}}", sync_to_thread=False, include_in_schema=False)
def swagger_ui_asset(name: FromPath[str]) -> File:
    """One of Swagger UI's files; nothing else of the package (or the disk) is served."""
    if name not in ASSETS:
        raise NotFound()
    return File(ASSETS_DIR / name, content_disposition_type="inline")


def _not_found_as_problem(response: Response) -> Response:  # type: ignore[type-arg]
    # Litestar answers unknown paths under /schema with an HTML page of its own; ours is a problem.
    if response.status_code == 404:
        raise NotFound()
    return response


def openapi_config(title: str, version: str) -> OpenAPIConfig:
    """The OpenAPI document and its UI at /schema, with the problem schema and both ways of
    presenting a token."""
    return OpenAPIConfig(
        title=title,
        version=version,
        path=DOCS_PATH,
        openapi_router=Router(
            DOCS_PATH,
            route_handlers=[],
            include_in_schema=False,
            after_request=_not_found_as_problem,
        ),
        render_plugins=[OfflineSwaggerUI()],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                "apikey": SecurityScheme(type="apiKey", name="apikey", security_scheme_in="header"),
            }
        ),
        # Either token, or none at all: anonymous callers are served too.
        security=[{"bearer": []}, {"apikey": []}, {}],
    )
