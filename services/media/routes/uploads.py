"""Uploads: a signed-in user's file into their media library.

The form is read by `Uploads.read_form`, which counts the body as it streams against
MEDIA_MAX_BYTES, so Litestar's own body limit is off for this route.
"""

from typing import Any

from litestar import Request, Router, post
from litestar.di import NamedDependency

from services.media.models.uploads import MediaItem
from services.media.uploads import Uploads
from shared.access import SignedInUser, from_state
from shared.ratelimit import RATE_LIMIT_OPT


@post(
    "/uploads",
    status_code=201,
    summary="Upload a file into the user's media library (and a site's images with projectId)",
    description=(
        "multipart/form-data: `file` (required), `projectId` (one of the user's sites), "
        "`description`, `tags` (a JSON array of strings). The type is decided by the file's "
        "bytes: jpeg, png, gif, webp, svg, ico, mp4, webm, quicktime, pdf, plain text, markdown, "
        "json, html and css; anything else, or a declared type that is not what the bytes are, is "
        "415 `unsupported_file_type`. Larger than MEDIA_MAX_BYTES: 413 `file_too_large`. Past the "
        "quota (10 images, 3 videos): 409 `quota_exceeded` with the counts."
    ),
    request_max_body_size=None,
    opt={RATE_LIMIT_OPT: "upload"},
)
async def upload(
    request: Request[Any, Any, Any],
    user: NamedDependency[SignedInUser],
    uploads: NamedDependency[Uploads],
) -> MediaItem:
    return await uploads.upload(user, await uploads.read_form(request))


router = Router(path="/", route_handlers=[upload], dependencies={"uploads": from_state("uploads")})
