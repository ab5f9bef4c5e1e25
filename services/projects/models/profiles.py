"""Company profiles on the wire (camelCase): the brief behind a site, its palette, and the
problem of a profile the caller does not have (a site it does not have is `SiteNotFound`)."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from shared.errors import NotFound
from shared.wire import RequestBody

HEX_COLOUR = r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"
"""A colour as `#rgb` or `#rrggbb`, as the `company_profiles_palette_shape` constraint says."""

Colour = Annotated[str, Meta(pattern=HEX_COLOUR, description="Hex colour, `#rgb` or `#rrggbb`")]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Answer = Annotated[str, Meta(max_length=5_000)]
LongText = Annotated[str, Meta(max_length=50_000)]
Url = Annotated[str, Meta(max_length=2_048)]


class Palette(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A site's colours, every member optional; stored without the members left out."""

    name: Name | None = None
    primary: Colour | None = None
    secondary: Colour | None = None
    accent: Colour | None = None


class CompanyProfileUpdate(RequestBody):
    """The whole brief of a site, as PUT stores it: members left out are cleared."""

    company_name: Name
    industry: Name | None = None
    location: Name | None = None
    existing_website: Url | None = None
    site_likes: Answer | None = None
    site_dislikes: Answer | None = None
    site_feedback: Answer | None = None
    target_audience: Answer | None = None
    purposes: Answer | None = None
    special_wishes: Answer | None = None
    palette: Palette | None = None
    competitor_insights: LongText | None = None
    inspiration_sites: Answer | None = None
    voice_transcript: LongText | None = None


class ProfileLink(RequestBody):
    """The caller's site to copy a profile to."""

    project_id: UUID


class CompanyProfile(msgspec.Struct, frozen=True, rename="camel"):
    """The brief behind one of the caller's sites."""

    id: UUID
    project_id: UUID
    company_name: str
    industry: str | None
    location: str | None
    existing_website: str | None
    site_likes: str | None
    site_dislikes: str | None
    site_feedback: str | None
    target_audience: str | None
    purposes: str | None
    special_wishes: str | None
    palette: Palette | None
    competitor_insights: str | None
    inspiration_sites: str | None
    voice_transcript: str | None
    created_at: datetime
    updated_at: datetime


class CompanyProfileList(msgspec.Struct, frozen=True, rename="camel"):
    profiles: list[CompanyProfile]


class ProfileNotFound(NotFound):
    """No such profile among the caller's (another tenant's looks the same as none)."""

    code = "profile_not_found"
    title = "No such company profile"
