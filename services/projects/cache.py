"""The projects service's own cache families (SPEC §7): read-only copies of what its tables hold,
invalidated on every write. Its sites' families (`PROJECT_META`, `PROJECT_FILES`,
`PROJECT_LIST`) are in shared/cache.py: auth drops them when a guest's sites move to a user."""

from shared.cache import DAY_S, CacheFamily

AUDIT = CacheFamily("audit:", DAY_S)
"""One site audit, by audit id."""

AUDIT_LIST = CacheFamily("audit_list:", DAY_S)
"""A user's audit summaries, by user id."""

PREVIEW = CacheFamily("preview:", DAY_S)
"""A template's preview, by template id."""
