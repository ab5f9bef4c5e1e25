"""The projects service's cache families (SPEC §7): read-only copies of what its tables hold,
invalidated on every write."""

from shared.cache import DAY_S, HOUR_S, CacheFamily

PROJECT_META = CacheFamily("project:meta:", HOUR_S)
"""An app project's row, by project id."""

PROJECT_FILES = CacheFamily("project:files:", HOUR_S)
"""An app project's file list, by project id."""

PROJECT_LIST = CacheFamily("cache:projects:list:", HOUR_S)
"""An owner's project list, by user id or guest session."""

AUDIT = CacheFamily("audit:", DAY_S)
"""One site audit, by audit id."""

AUDIT_LIST = CacheFamily("audit_list:", DAY_S)
"""A user's audit summaries, by user id."""

PREVIEW = CacheFamily("preview:", DAY_S)
"""A template's preview, by template id."""
