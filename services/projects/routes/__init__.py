"""The projects service's HTTP routes, all under /projects, one module per resource."""

from litestar import Router

from services.projects.routes import (
    audits,
    deployments,
    generations,
    handoffs,
    profiles,
    saves,
    sites,
    templates,
    versions,
)

router = Router(
    path="/projects",
    route_handlers=[
        sites.router,
        saves.router,
        handoffs.router,
        profiles.router,
        templates.router,
        audits.router,
        generations.router,
        versions.router,
        deployments.router,
    ],
)
