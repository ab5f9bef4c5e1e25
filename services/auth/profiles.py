"""What people see and change of themselves: as themselves (row-level security decides), through
the session cache (`user:session:{id}`), which changes with the account, never after it."""

from services.auth.models import ProfileUpdate, PublicUser, UserMe
from services.auth.repo import AccountRepository
from shared.access import Owner, SignedInUser
from shared.cache import USER_SESSION, Cache
from shared.data.plane import DataPlane
from shared.errors import SessionEnded
from shared.guest_quota import GuestQuota, GuestQuotaRepository


class Profiles:
    """The signed-in user's public account, or a guest's usage; one per process."""

    def __init__(self, data: DataPlane, cache: Cache) -> None:
        self._data = data
        self._cache = cache

    async def of(self, owner: Owner) -> UserMe | GuestQuota:
        if owner.user_id is None:
            return await GuestQuotaRepository(self._data, owner.caller).quota(
                owner.guest_session or ""
            )
        account = AccountRepository(self._data, owner.caller)
        user_id = owner.user_id

        async def load() -> PublicUser:
            user = await account.user(user_id)
            if user is None:
                raise SessionEnded("This account no longer exists.")
            return user

        return UserMe(await self._cache.get_or_load(USER_SESSION.key(user_id), PublicUser, load))

    async def update(self, user: SignedInUser, update: ProfileUpdate) -> UserMe:
        """Change the user's name or picture (nothing else: row-level security allows no more)."""
        changed = await AccountRepository(self._data, user.caller).update_profile(
            user.id, update.changes()
        )
        await self._cache.set(USER_SESSION.key(user.id), changed)
        return UserMe(changed)
