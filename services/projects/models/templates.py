"""Cached template generations on the wire (camelCase), what the code engine caches, and the
problem of a template with no live entry."""

from datetime import datetime, timedelta
from typing import Any

import msgspec

from shared.errors import NotFound

TEMPLATE_ID_MAX = 100
TEMPLATE_LIFETIME = timedelta(days=7)
"""How long a cached generation is served after it was written."""


class TemplateGeneration(msgspec.Struct, frozen=True, kw_only=True):
    """What the code engine generated for a template, to cache (not a request body: the engine
    builds it from v0's answer)."""

    template_id: str
    chat_id: str | None = None
    demo_url: str | None = None
    version_id: str | None = None
    files_json: Any = None
    code: str | None = None
    model: str | None = None


class CachedTemplate(msgspec.Struct, frozen=True, rename="camel"):
    """A live cache entry: the caller's own (`shared` false) or the one every caller may read."""

    template_id: str
    shared: bool
    chat_id: str | None
    demo_url: str | None
    version_id: str | None
    files_json: Any
    code: str | None
    model: str | None
    created_at: datetime
    expires_at: datetime


class TemplateNotCached(NotFound):
    """Neither the caller nor anyone shared a live entry for this template."""

    code = "template_not_cached"
    title = "Template not cached"
