"""Page views: `POST /analytics/pageview`, from anyone (the anon key, a guest, a user).

The answer is 202 at once, whatever becomes of the view (stored with the next batch, or dropped
as a bot or prefetch: bots cannot tell). Rate limited per caller (`page_view`, failing open).
"""

from typing import Any

from litestar import Request, Response, Router, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from services.analytics.bots import is_prefetch
from services.analytics.ingest import Ingest, Sighting
from services.analytics.models.pageviews import PageViewIn
from shared.access import from_state
from shared.config import Settings
from shared.identity import Caller
from shared.ratelimit import RATE_LIMIT_OPT, client_address


def provide_sighting(
    request: Request[Any, Any, State], settings: NamedDependency[Settings]
) -> Sighting:
    """The visitor as the request shows it: the address (X-Forwarded-For only from
    TRUSTED_PROXIES), the user agent and whether this is a prefetch."""
    return Sighting(
        address=client_address(request.scope, settings.trusted_proxies),
        user_agent=request.headers.get("user-agent", ""),
        prefetch=is_prefetch(request.headers),
    )


# No body: nothing about the view's fate is told (a bot's answer is the same).
ACCEPTED = Response(b"", status_code=202)


@post(
    "/pageview",
    status_code=202,
    summary="Record a page view (answered 202 at once; written with the next batch)",
    opt={RATE_LIMIT_OPT: "page_view"},
)
async def record_page_view(
    data: JSONBody[PageViewIn],
    caller: NamedDependency[Caller],
    sighting: NamedDependency[Sighting],
    ingest: NamedDependency[Ingest],
) -> Response[bytes]:
    await ingest.accept(caller, data, sighting)
    return ACCEPTED


router = Router(
    path="/",
    route_handlers=[record_page_view],
    dependencies={
        "ingest": from_state("ingest"),
        "sighting": Provide(provide_sighting, sync_to_thread=False),
    },
)
