"""Passwords: Argon2id hashing off the event loop, and signing in with email and password."""

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import NamedTuple, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.auth.models import AccountDisabled, EmailNotVerified, InvalidCredentials
from services.auth.repo import AuthRepository, UserRecord

# argon2-cffi's defaults: Argon2id, t=3, m=64 MiB, p=4 (RFC 9106's second recommendation).
HASHER = PasswordHasher()
T = TypeVar("T")

# Each hash takes 64 MiB for ~50 ms: a few at a time bounds memory under a burst of logins,
# where the event loop's default pool would run dozens at once.
HASHING_THREADS = 4
_hashing = ThreadPoolExecutor(max_workers=HASHING_THREADS, thread_name_prefix="argon2")


class PasswordCheck(NamedTuple):
    valid: bool
    needs_rehash: bool
    """The stored hash was made with weaker parameters than HASHER's: store a new one."""


async def hash_password(password: str) -> str:
    return await _in_worker(HASHER.hash, password)


async def check_password(stored_hash: str | None, password: str) -> PasswordCheck:
    """Whether `password` matches `stored_hash`. Without a stored hash (unknown email, Google-only
    account) a dummy hash is checked instead, so the answer takes as long either way."""
    if stored_hash is None:
        await _in_worker(_verifies_dummy, password)
        return PasswordCheck(valid=False, needs_rehash=False)
    if not await _in_worker(_verifies, stored_hash, password):
        return PasswordCheck(valid=False, needs_rehash=False)
    return PasswordCheck(valid=True, needs_rehash=HASHER.check_needs_rehash(stored_hash))


def _verifies(stored_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _verifies_dummy(password: str) -> bool:
    return _verifies(_dummy_hash(), password)


@functools.cache
def _dummy_hash() -> str:
    # Made once (in a worker, like every hash), with the same parameters as real hashes so that
    # checking it costs the same.
    return HASHER.hash("sajtmaskin-dummy-password")


async def _in_worker(function: Callable[..., T], *args: str) -> T:
    return await asyncio.get_running_loop().run_in_executor(_hashing, function, *args)


async def authenticate(auth: AuthRepository, email: str, password: str) -> UserRecord:
    """The user these credentials sign in, with `last_login_at` set (and the hash upgraded when
    HASHER's parameters have risen since it was made)."""
    user = await auth.user_by_email(email)
    check = await check_password(user.password_hash if user else None, password)
    if user is None or not check.valid:
        raise InvalidCredentials("Wrong email or password.")
    # Only after the password: a stranger learns nothing about the account's state.
    if user.disabled_at is not None:
        raise AccountDisabled("This account has been disabled.")
    if not user.email_verified:
        raise EmailNotVerified("Confirm your email address first; we sent you a link.")
    values: dict[str, object] = {"last_login_at": datetime.now(UTC)}
    if check.needs_rehash:
        values["password_hash"] = await hash_password(password)
    return await auth.update_user(user.id, values) or user
