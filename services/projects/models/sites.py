"""What the projects service speaks on the wire (camelCase)."""

from datetime import datetime
from uuid import UUID

import msgspec


class AppProject(msgspec.Struct, frozen=True, rename="camel"):
    """One of the caller's sites, with the preview URL of its latest saved version."""

    id: UUID
    name: str
    category: str | None
    description: str | None
    thumbnail_path: str | None
    demo_url: str | None
    created_at: datetime
    updated_at: datetime


class AppProjectList(msgspec.Struct, frozen=True, rename="camel"):
    projects: list[AppProject]
