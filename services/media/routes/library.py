"""The media library: a signed-in user's files (guests are told to sign in), their bytes, and a
site's images. Another user's file or site is a 404 like none."""

from typing import Annotated
from uuid import UUID

from litestar import Response, Router, delete, get, patch
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from services.media.library import Library
from services.media.models.library import (
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    FileType,
    LibraryPage,
    MediaChange,
    ProjectImages,
)
from services.media.models.uploads import MediaItem
from shared.access import SignedInUser, from_state


@get(
    "/library",
    summary="The user's files, newest first (`before`: the last item's id, from `nextBefore`), "
    "with counts per type and the image and video quotas left",
)
async def list_library(
    user: NamedDependency[SignedInUser],
    library: NamedDependency[Library],
    file_type: Annotated[FileType | None, QueryParameter(name="type")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=PAGE_LIMIT_MAX)] = PAGE_LIMIT_DEFAULT,
    before: FromQuery[UUID | None] = None,
) -> LibraryPage:
    return await library.page(user, file_type, before, limit)


@get("/{media_id:uuid}", summary="One of the user's files")
async def get_media(
    media_id: FromPath[UUID], user: NamedDependency[SignedInUser], library: NamedDependency[Library]
) -> MediaItem:
    return await library.item(user, media_id)


@patch("/{media_id:uuid}", summary="Describe or tag one of the user's files")
async def change_media(
    media_id: FromPath[UUID],
    data: JSONBody[MediaChange],
    user: NamedDependency[SignedInUser],
    library: NamedDependency[Library],
) -> MediaItem:
    return await library.change(user, media_id, data)


@delete(
    "/{media_id:uuid}",
    summary="Delete one of the user's files (its stored object is removed in the background, "
    "and the same upload's site image with it)",
)
async def delete_media(
    media_id: FromPath[UUID], user: NamedDependency[SignedInUser], library: NamedDependency[Library]
) -> None:
    await library.delete(user, media_id)


@get(
    "/{media_id:uuid}/content",
    summary="The file's bytes with the type sniffed at upload; SVG and HTML as sandboxed "
    "downloads, so they never run script on this origin",
)
async def media_content(
    media_id: FromPath[UUID], user: NamedDependency[SignedInUser], library: NamedDependency[Library]
) -> Response[bytes]:
    content = await library.content(user, media_id)
    return Response(content.data, media_type=content.media_type, headers=content.headers)


@get("/projects/{project_id:uuid}/images", summary="The images of one of the user's sites")
async def project_images(
    project_id: FromPath[UUID],
    user: NamedDependency[SignedInUser],
    library: NamedDependency[Library],
) -> ProjectImages:
    return await library.project_images(user, project_id)


router = Router(
    path="/",
    route_handlers=[
        list_library,
        get_media,
        change_media,
        delete_media,
        media_content,
        project_images,
    ],
    dependencies={"library": from_state("library")},
)
