"""The wallet's routes: balance, ledger, prices, packages, checks and charges.

Reads run as the caller under row-level security (`WalletRepository`); anything that needs a
balance and a price together, or changes one, is the `Wallet`'s.
"""

from typing import Annotated

from litestar import Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter

from services.billing.models.wallet import (
    ACTION_DESCRIPTION,
    ACTION_MAX,
    CURSOR_PATTERN,
    MODEL_TIER_DESCRIPTION,
    MODEL_TIER_MAX,
    NAME_PATTERN,
    STANDARD_TIER,
    Charge,
    ChargeCheck,
    ChargeRequest,
    PackageList,
    PriceList,
    TransactionPage,
    UserBalance,
)
from services.billing.repo.wallet import WalletRepository
from services.billing.wallet import Wallet
from shared.access import Owner, SignedInUser, as_caller, from_state
from shared.guest_quota import GuestQuota
from shared.ratelimit import RATE_LIMIT_OPT

REPLAYED_HEADER = "Idempotent-Replayed"
"""Set (to "true") on the answer to a charge whose key was used before, as Stripe does."""


@get("/balance", summary="The user's diamonds, tier and newest transactions, or a guest's quota")
async def balance(
    owner: NamedDependency[Owner], wallet: NamedDependency[Wallet]
) -> UserBalance | GuestQuota:
    return await wallet.balance(owner)


@get("/transactions", summary="The user's transactions, newest first, a page at a time")
async def transactions(
    user: NamedDependency[SignedInUser],
    wallet_repository: NamedDependency[WalletRepository],
    limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
    before: Annotated[
        str | None,
        Parameter(pattern=CURSOR_PATTERN, description="`nextCursor` of the previous page"),
    ] = None,
) -> TransactionPage:
    return await wallet_repository.transactions(user.id, limit, before)


@get("/prices", summary="What each action costs in diamonds, per model tier (anyone may read)")
async def prices(wallet_repository: NamedDependency[WalletRepository]) -> PriceList:
    return await wallet_repository.prices()


@get("/packages", summary="The diamond packages on sale (anyone may read)")
async def packages(wallet_repository: NamedDependency[WalletRepository]) -> PackageList:
    return await wallet_repository.packages()


# Query parameters are checked by Litestar's `Parameter` (it ignores msgspec's `Meta` there), with
# the limits the charge body's fields have.
@get("/check", summary="Whether the caller can pay for an action now; charges nothing")
async def check(
    owner: NamedDependency[Owner],
    wallet: NamedDependency[Wallet],
    action: Annotated[
        str,
        Parameter(pattern=NAME_PATTERN, max_length=ACTION_MAX, description=ACTION_DESCRIPTION),
    ],
    model: Annotated[
        str,
        Parameter(
            pattern=NAME_PATTERN, max_length=MODEL_TIER_MAX, description=MODEL_TIER_DESCRIPTION
        ),
    ] = STANDARD_TIER,
) -> ChargeCheck:
    return await wallet.check(owner, action, model)


# Charges spend diamonds, but the balance bounds them in SQL; no per-action policy fits a route
# whose action is in the body, so it counts as `default`.
@post(
    "/charges",
    status_code=201,
    opt={RATE_LIMIT_OPT: "default"},
    summary="Pay for an action (a guest: from its free quota); the same idempotency key again "
    "answers the first charge, 201 again, with Idempotent-Replayed: true",
)
async def charge(
    data: JSONBody[ChargeRequest], owner: NamedDependency[Owner], wallet: NamedDependency[Wallet]
) -> Response[Charge]:
    made = await wallet.charge(owner, data)
    return Response(
        made.charge, status_code=201, headers={REPLAYED_HEADER: "true"} if made.replayed else None
    )


router = Router(
    path="/",
    route_handlers=[balance, transactions, prices, packages, check, charge],
    dependencies={
        "wallet_repository": as_caller(WalletRepository),
        "wallet": from_state("wallet"),
    },
)
