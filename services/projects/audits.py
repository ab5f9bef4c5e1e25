"""Audits: a signed-in user's saved site audits, through the `audit:` and `audit_list:` caches.

TODO(audits)
"""

from shared.cache import Cache
from shared.data.plane import DataPlane


class Audits:
    """Saved audits, each as its caller; one per process."""

    def __init__(self, data: DataPlane, cache: Cache) -> None:
        self._data = data
        self._cache = cache
