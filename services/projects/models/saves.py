"""A site's saved work on the wire (camelCase): what a save may say, what is saved, its files."""

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from shared.wire import RequestBody

# The size limits of project_data's and project_files' columns in SQL (bytes there, characters
# here: SQL has the last word on multi-byte text).
ChatId = Annotated[str, Meta(max_length=100, description="The v0 chat the work came from")]
DemoUrl = Annotated[str, Meta(max_length=2048, description="The preview of the saved version")]
CurrentCode = Annotated[str, Meta(max_length=5_242_880)]
FileName = Annotated[str, Meta(min_length=1, max_length=1024, description="The file's path")]
MAX_FILES = 2000

# SQL constraints a save can break, and the field of the body each one is about.
CONSTRAINT_FIELDS = {
    "project_data_chat_id_length": "chatId",
    "project_data_demo_url_length": "demoUrl",
    "project_data_current_code_size": "currentCode",
    "project_data_files_size": "files",
    "project_data_messages_size": "messages",
    "project_data_meta_size": "meta",
    "project_data_meta_is_object": "meta",
    "project_files_path_length": "files",
    "project_files_project_path_key": "files",
}


# Requests ----------------------------------------------------------------------------------------


class SiteFile(RequestBody):
    """One generated file, as v0 returns it."""

    name: FileName
    content: str
    locked: bool = False


class SaveRequest(RequestBody):
    """What to save: only the fields given change; `meta` is merged into the saved meta (its
    top-level keys replaced), `files` replaces the file list."""

    chat_id: ChatId | UnsetType | None = UNSET
    demo_url: DemoUrl | UnsetType | None = UNSET
    current_code: CurrentCode | UnsetType | None = UNSET
    files: Annotated[list[SiteFile], Meta(max_length=MAX_FILES)] | UnsetType = UNSET
    messages: list[dict[str, Any]] | UnsetType | None = UNSET
    meta: dict[str, Any] | UnsetType = UNSET

    def changes(self) -> dict[str, Any]:
        """The given fields by project_data's column names, as `save_project_data` takes them."""
        return {
            name: msgspec.to_builtins(value)
            for name, value in msgspec.structs.asdict(self).items()
            if value is not UNSET
        }


# Responses ---------------------------------------------------------------------------------------


class SavedData(msgspec.Struct, frozen=True, rename="camel"):
    """A site's latest save."""

    chat_id: str | None
    demo_url: str | None
    current_code: str | None
    files: list[dict[str, Any]] | None
    """As last saved: v0's files, [{name, content, locked}]."""
    messages: list[Any] | None
    meta: dict[str, Any]
    updated_at: datetime


class FileEntry(msgspec.Struct, frozen=True, rename="camel"):
    """A saved file: its path and size in bytes."""

    path: str
    size_bytes: int


class FileList(msgspec.Struct, frozen=True, rename="camel"):
    """A site's saved files, by path."""

    files: list[FileEntry]
