"""The process's settings, read once from the environment; nothing else reads `os.environ`."""

import os
from collections.abc import Mapping

import msgspec


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the backend takes from its environment."""

    database_url: str | None = None
    """`DATABASE_URL`: the Postgres database to migrate and serve; unset means none configured."""


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (the process environment by default).

    An empty variable counts as unset, so `DATABASE_URL=` in a shell or .env file means "none".
    """
    source = os.environ if environ is None else environ
    return Settings(database_url=source.get("DATABASE_URL") or None)
