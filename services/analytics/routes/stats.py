"""Admin statistics: views, visitors, top paths and referrers, a daily series, sign-ups, sites
and guest usage over 1 to 366 days. Who is an admin is the database's call (`analytics_stats`
refuses anyone else), so the route only needs a signed-in user."""

from typing import Annotated

from litestar import Router, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from services.analytics.models.stats import DAYS_DESCRIPTION, MAX_DAYS, Statistics
from services.analytics.repo.stats import StatsRepository
from shared.access import SignedInUser, as_caller


@get(
    "/stats",
    summary="Admins only: page views, unique visitors, top paths and referrers, every day's "
    "counts, sign-ups, sites created and guest usage over the last `days` UTC days",
)
async def statistics(
    user: NamedDependency[SignedInUser],
    stats_repository: NamedDependency[StatsRepository],
    days: Annotated[int, Parameter(ge=1, le=MAX_DAYS, description=DAYS_DESCRIPTION)] = 30,
) -> Statistics:
    return await stats_repository.statistics(days)


router = Router(
    path="/",
    route_handlers=[statistics],
    dependencies={"stats_repository": as_caller(StatsRepository)},
)
