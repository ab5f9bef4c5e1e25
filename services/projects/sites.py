"""Sites: an owner's app projects and their saved work, through the caches of `cache.py`.

TODO(sites): create within the owner's limit, read with saved data, change, delete, save.
"""

from shared.cache import Cache
from shared.data.plane import DataPlane


class Sites:
    """Sites and saves, each as its caller, read through and invalidating the caches; one per
    process."""

    def __init__(self, data: DataPlane, cache: Cache) -> None:
        self._data = data
        self._cache = cache
