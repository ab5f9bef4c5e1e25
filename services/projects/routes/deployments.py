"""Deployments: a site's versions deployed to Vercel (accounts only, paid), listed and read with
their state refreshed from Vercel, and Vercel's webhook that reports their progress.

The webhook has no user and no cookies: it is not rate limited by identity, and it reads the raw
body (never a decoded one), because Vercel's signature covers the exact bytes.
"""

from typing import Any
from uuid import UUID

from litestar import Request, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from services.projects.deployer import Deployments
from services.projects.models.deployments import (
    Deployment,
    DeploymentCreate,
    DeploymentList,
    WebhookReceived,
)
from shared.access import SignedInUser, from_state
from shared.ratelimit import RATE_LIMIT_OPT


@post(
    "/{project_id:uuid}/deployments",
    status_code=201,
    opt={RATE_LIMIT_OPT: "deploy"},
    summary="Deploy one of the site's versions to Vercel (accounts only; costs 'deploy' "
    "diamonds, refunded if Vercel fails it); the same idempotency key again answers the first "
    "deployment",
)
async def deploy(
    project_id: FromPath[UUID],
    data: JSONBody[DeploymentCreate],
    user: NamedDependency[SignedInUser],
    deployments: NamedDependency[Deployments],
) -> Deployment:
    return await deployments.deploy(user, project_id, data)


@get(
    "/{project_id:uuid}/deployments",
    summary="The site's deployments, newest first, those still building refreshed from Vercel",
)
async def list_deployments(
    project_id: FromPath[UUID],
    user: NamedDependency[SignedInUser],
    deployments: NamedDependency[Deployments],
) -> DeploymentList:
    return await deployments.list(user, project_id)


@get(
    "/{project_id:uuid}/deployments/{deployment_id:uuid}",
    summary="One of the site's deployments, refreshed from Vercel while it is not final",
)
async def get_deployment(
    project_id: FromPath[UUID],
    deployment_id: FromPath[UUID],
    user: NamedDependency[SignedInUser],
    deployments: NamedDependency[Deployments],
) -> Deployment:
    return await deployments.get(user, project_id, deployment_id)


@post(
    "/vercel/webhook",
    status_code=200,
    opt={RATE_LIMIT_OPT: False},
    summary="Vercel's deployment events (x-vercel-signature: HMAC-SHA1 of the raw body); "
    "unknown deployments and event types are answered 200 and ignored",
)
async def vercel_webhook(
    request: Request[Any, Any, State], deployments: NamedDependency[Deployments]
) -> WebhookReceived:
    return await deployments.receive(
        await request.body(), request.headers.get("x-vercel-signature")
    )


router = Router(
    path="/",
    route_handlers=[deploy, list_deployments, get_deployment, vercel_webhook],
    dependencies={"deployments": from_state("deployments")},
)
