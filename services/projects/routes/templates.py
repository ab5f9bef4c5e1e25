"""The template cache: a template's cached generation, the caller's own before the shared one,
never an expired one. The code engine writes it (`repo/templates.py`)."""

from typing import Annotated

from litestar import Router, get
from litestar.di import NamedDependency
from litestar.params import PathParameter

from services.projects.models.templates import TEMPLATE_ID_MAX, CachedTemplate
from services.projects.repo.templates import TemplateCacheRepository
from shared.access import Owner, as_caller


@get(
    "/templates/{template_id:str}",
    summary="A template's cached generation: the caller's own, else the shared one",
)
async def cached_template(
    template_id: Annotated[str, PathParameter(min_length=1, max_length=TEMPLATE_ID_MAX)],
    owner: NamedDependency[Owner],
    templates: NamedDependency[TemplateCacheRepository],
) -> CachedTemplate:
    return await templates.live(template_id)


router = Router(
    path="/",
    route_handlers=[cached_template],
    dependencies={"templates": as_caller(TemplateCacheRepository)},
)
