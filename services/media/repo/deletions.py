"""The storage deletion outbox (`storage_deletions`), as the service role: objects no row points
at any more, queued by SQL triggers (or by an upload whose row could not be written), leased and
removed by the deletion worker."""

from datetime import datetime

import msgspec

from shared.data.query import Delete, Insert, Rpc, Update, in_
from shared.data.repository import Repository
from shared.data.rows import row_as


class QueuedDeletion(msgspec.Struct, frozen=True):
    id: str
    kind: str
    file_path: str
    attempts: int


class DeletionsRepository(Repository):
    """Run as the service role: clients reach neither the table nor its functions."""

    async def queue(self, file_path: str) -> None:
        """Queue a media object no row points at."""
        await self.run(
            Insert(
                "storage_deletions",
                ({"kind": "media", "file_path": file_path},),
                returning=False,
            )
        )

    async def lease(self, limit: int, lease_s: int) -> list[QueuedDeletion]:
        """Up to `limit` due deletions, hidden from other workers for `lease_s` seconds."""
        rows = await self.rows(
            Rpc("lease_storage_deletions", {"p_limit": limit, "p_lease_seconds": lease_s})
        )
        return [row_as(QueuedDeletion, row) for row in rows]

    async def remove(self, ids: list[str]) -> None:
        """Forget deletions whose objects are gone."""
        await self.run(Delete("storage_deletions", (in_("id", ids),), returning=False))

    async def postpone(self, ids: list[str], until: datetime) -> None:
        """Keep deletions leased (hidden) until `until`."""
        await self.run(
            Update(
                "storage_deletions",
                {"leased_until": until.isoformat()},
                (in_("id", ids),),
                returning=False,
            )
        )
