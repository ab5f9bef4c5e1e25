"""A page view as a client reports it."""

from typing import Annotated

from msgspec import Meta

from shared.wire import RequestBody

# Longer fields are clipped (path 512, referrer 1,024) rather than refused, up to this much;
# beyond it the body is not a page view but an abuse of the endpoint (422).
FIELD_MAX = 8192


class PageViewIn(RequestBody):
    """`POST /analytics/pageview`: the page seen and, optionally, where the visitor came from."""

    path: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=FIELD_MAX,
            description="The page's path (a full URL is reduced to its path); the query string "
            "is kept only for its utm_* parameters; clipped to 512 characters",
        ),
    ]
    referrer: (
        Annotated[
            str,
            Meta(
                max_length=FIELD_MAX,
                description="The page the visitor came from; clipped to 1,024 characters",
            ),
        ]
        | None
    ) = None
