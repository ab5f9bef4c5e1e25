"""Billing's SQL functions keep the ledger: every outcome of every function, as the roles that
call them (set as PostgREST sets them), charges racing on one balance, and what no client can do
through real PostgREST with a valid token.

The ledger invariant (diamonds = sum(amount), each balance_after the running sum) is checked with
`public.ledger_discrepancies()` for the users a test made, since the session database is shared
with tests that write balances without a ledger.
"""

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from shared.migrations import reset
from tests.conftest import JWT_SECRET
from tests.schema.data_api import Db, as_client, executors
from tests.tenancy import anon_key, mint, service_role_key
from tests.world import Person, a_guest, a_user

Row = dict[str, Any]

# What each function takes, in the Data API's JSON, and exactly who may execute it.
SERVICE_FUNCTIONS: dict[str, dict[str, Any]] = {
    "refund_charge": {"p_charge_id": str(uuid.uuid4())},
    "credit_diamonds": {
        "p_user_id": str(uuid.uuid4()),
        "p_amount": 100,
        "p_type": "admin_grant",
        "p_description": "Gratis",
        "p_idempotency_key": "free",
    },
    "record_checkout_payment": {
        "p_event_id": "evt_forged",
        "p_event_type": "checkout.session.completed",
        "p_session_id": "cs_forged",
        "p_user_id": str(uuid.uuid4()),
        "p_package_id": "credits_50",
        "p_amount_total": 17900,
        "p_currency": "sek",
        "p_payment_intent": "pi_forged",
    },
    "record_domain_payment": {
        "p_event_id": "evt_forged",
        "p_session_id": "cs_forged",
        "p_amount_total": 100,
        "p_currency": "sek",
        "p_payment_intent": "pi_forged",
    },
    "ledger_discrepancies": {},
}
EXECUTORS = {
    "public.charge_credits(text, text, text)": {"anon", "authenticated"},
    "public.refund_charge(uuid)": {"service_role"},
    "public.credit_diamonds(uuid, integer, text, text, text)": {"service_role"},
    "public.record_checkout_payment(text, text, text, uuid, text, integer, text, text)": {
        "service_role"
    },
    "public.record_domain_payment(text, text, integer, text, text)": {"service_role"},
    "public.ledger_discrepancies()": {"service_role"},
}
CLIENTS: dict[str, Callable[[], str]] = {
    "anon_key": lambda: anon_key(JWT_SECRET),
    "guest": lambda: a_guest().token,
    "user": lambda: Person("someone", "user", user_id=str(uuid.uuid4())).token,
}


def call(db: Db, function: str, *args: object) -> list[Row]:
    """Call a public billing function as the service role."""
    placeholders = ", ".join(["%s"] * len(args))
    with db.transaction():
        db.execute("select set_config('role', 'service_role', true)")
        return db.execute(f"select * from public.{function}({placeholders})", args).fetchall()


def as_claims(db: Db, claims: dict[str, Any]) -> None:
    """Take on a token's role and claims for the current transaction, as PostgREST does."""
    db.execute(
        "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
        (claims["role"], json.dumps(claims)),
    )


def charge(
    db: Db,
    who: Person | dict[str, Any],
    action: str | None,
    key: str | None = None,
    tier: str | None = None,
) -> Row:
    """Charge a person (or whoever a token's `claims` name) for an action, as they would."""
    claims = who if isinstance(who, dict) else who.caller.claims
    with db.transaction():
        as_claims(db, claims)
        row = db.execute(
            "select * from public.charge_credits(%s, %s, %s)",
            (action, tier, key or str(uuid.uuid4())),
        ).fetchone()
    assert row is not None
    return row


def a_user_with(database_url: str, db: Db, diamonds: int, **columns: Any) -> Person:
    """A user whose `diamonds` came through the ledger (an admin grant)."""
    person = a_user(database_url, **columns)
    if diamonds:
        [granted] = call(
            db, "credit_diamonds", person.user_id, diamonds, "admin_grant", "Start", "start"
        )
        assert granted["outcome"] == "credited"
    return person


def balance(db: Db, who: Person) -> tuple[int, str]:
    row = db.execute("select diamonds, tier from public.users where id = %s", (who.user_id,))
    found = row.fetchone()
    assert found is not None
    return found["diamonds"], found["tier"]


def ledger(db: Db, who: Person) -> list[Row]:
    """The person's ledger rows in the order they were written."""
    return db.execute(
        "select id, type, amount, balance_after, action, model_tier, idempotency_key, refund_of,"
        " stripe_session_id, stripe_payment_intent from public.transactions where user_id = %s"
        " order by seq",
        (who.user_id,),
    ).fetchall()


def discrepancies(db: Db, *people: Person) -> list[Row]:
    """What ledger_discrepancies() says about these people (the session database holds others)."""
    ids = {uuid.UUID(str(person.user_id)) for person in people}
    return [row for row in call(db, "ledger_discrepancies") if row["user_id"] in ids]


def usage(db: Db, guest: Person) -> tuple[int, int] | None:
    row = db.execute(
        "select generations_used, refines_used from public.guest_usage where session_id = %s",
        (guest.session_id,),
    ).fetchone()
    return None if row is None else (row["generations_used"], row["refines_used"])


# charge_credits, for users -------------------------------------------------------------------


def test_a_charge_takes_the_price_and_writes_one_ledger_row(database_url: str, db: Db) -> None:
    user = a_user_with(database_url, db, 50)

    charged = charge(db, user, "generate", "key-1")

    assert charged == {
        "outcome": "charged",
        "charge_id": charged["charge_id"],
        "cost": 10,
        "balance": 40,
        "required": None,
    }
    assert balance(db, user) == (40, "free")
    assert ledger(db, user)[1:] == [
        {
            "id": charged["charge_id"],
            "type": "charge",
            "amount": -10,
            "balance_after": 40,
            "action": "generate",
            "model_tier": "standard",
            "idempotency_key": "key-1",
            "refund_of": None,
            "stripe_session_id": None,
            "stripe_payment_intent": None,
        }
    ]


@pytest.mark.parametrize(
    ("action", "tier", "cost", "priced_as"),
    [
        ("generate", None, 10, "standard"),
        ("generate", "standard", 10, "standard"),
        ("generate", "pro", 7, "pro"),
        ("refine", "standard", 6, "standard"),
        ("refine", "pro", 4, "pro"),
        ("deploy", "pro", 20, "standard"),
        ("audit_basic", "a-tier-nobody-priced", 15, "standard"),
        ("audit_advanced", None, 25, "standard"),
    ],
)
def test_a_price_is_the_tiers_own_else_the_standard_one(
    action: str, tier: str | None, cost: int, priced_as: str, database_url: str, db: Db
) -> None:
    user = a_user_with(database_url, db, 100)

    charged = charge(db, user, action, tier=tier)

    assert (charged["outcome"], charged["cost"], charged["balance"]) == (
        "charged",
        cost,
        100 - cost,
    )
    assert ledger(db, user)[-1]["model_tier"] == priced_as


def test_an_unknown_action_is_not_charged(database_url: str, db: Db) -> None:
    user = a_user_with(database_url, db, 50)

    unknown = charge(db, user, "mine_bitcoin")

    assert unknown == {
        "outcome": "unknown_action",
        "charge_id": None,
        "cost": None,
        "balance": None,
        "required": None,
    }
    assert (balance(db, user), len(ledger(db, user))) == ((50, "free"), 1)


def test_a_user_short_of_diamonds_is_told_what_it_needs_and_nothing_is_written(
    database_url: str, db: Db
) -> None:
    user = a_user_with(database_url, db, 19)

    short = charge(db, user, "deploy")

    assert short == {
        "outcome": "insufficient",
        "charge_id": None,
        "cost": 20,
        "balance": 19,
        "required": 20,
    }
    assert (balance(db, user), len(ledger(db, user))) == ((19, "free"), 1)


def test_an_admin_is_never_charged_but_the_charge_is_recorded(database_url: str, db: Db) -> None:
    admin = a_user_with(database_url, db, 0, tier="admin")

    charged = charge(db, admin, "audit_advanced", "admin-key")
    replayed = charge(db, admin, "audit_advanced", "admin-key")

    assert (charged["outcome"], charged["cost"], charged["balance"]) == ("charged", 0, 0)
    assert replayed == {**charged, "outcome": "replayed"}
    assert [(row["type"], row["amount"], row["action"]) for row in ledger(db, admin)] == [
        ("charge", 0, "audit_advanced")
    ]


def test_the_same_key_again_returns_the_first_result_and_writes_nothing(
    database_url: str, db: Db
) -> None:
    # given a charge, and the balance changed since
    user = a_user_with(database_url, db, 50)
    first = charge(db, user, "generate", "once")
    charge(db, user, "refine")

    # when the first key comes again, even for another action
    again = charge(db, user, "deploy", "once")

    # then it is the first charge's answer, and nothing more was taken
    assert again == {**first, "outcome": "replayed"}
    assert balance(db, user) == (34, "free")
    assert [row["idempotency_key"] for row in ledger(db, user)].count("once") == 1


def test_a_key_is_the_users_own(database_url: str, db: Db) -> None:
    alice, bob = a_user_with(database_url, db, 50), a_user_with(database_url, db, 50)

    charge(db, alice, "generate", "shared-key")
    bobs = charge(db, bob, "generate", "shared-key")

    assert (bobs["outcome"], balance(db, bob)) == ("charged", (40, "free"))


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "authenticated", "sub": str(uuid.uuid4())},
        {"role": "anon"},
        {"role": "anon", "sub": "user"},
    ],
    ids=["a_deleted_user", "the_anon_key", "anon_naming_a_user"],
)
def test_anyone_but_a_user_or_guest_needs_an_account(
    claims: dict[str, Any], database_url: str, db: Db
) -> None:
    if claims.get("sub") == "user":
        claims = {**claims, "sub": a_user_with(database_url, db, 50).user_id}

    assert charge(db, claims, "generate")["outcome"] == "requires_account"


# charge_credits, for guests ------------------------------------------------------------------


def test_a_guest_has_one_generation_and_one_refine(db: Db) -> None:
    guest = a_guest()

    outcomes = [
        charge(db, guest, "generate")["outcome"],
        charge(db, guest, "generate")["outcome"],
        charge(db, guest, "refine")["outcome"],
        charge(db, guest, "refine")["outcome"],
    ]

    assert outcomes == ["charged", "quota_exceeded", "charged", "quota_exceeded"]
    assert usage(db, guest) == (1, 1)


def test_a_guests_charge_costs_nothing_and_replays_by_key(db: Db) -> None:
    guest = a_guest()

    charged = charge(db, guest, "generate", "guest-key")
    replayed = charge(db, guest, "generate", "guest-key")

    assert charged == {
        "outcome": "charged",
        "charge_id": charged["charge_id"],
        "cost": 0,
        "balance": None,
        "required": None,
    }
    assert replayed == {**charged, "outcome": "replayed"}
    assert usage(db, guest) == (1, 0)


@pytest.mark.parametrize("action", ["deploy", "audit_basic", "audit_advanced", "mine_bitcoin"])
def test_every_other_action_needs_an_account_for_a_guest(action: str, db: Db) -> None:
    guest = a_guest()

    assert charge(db, guest, action)["outcome"] == "requires_account"
    assert usage(db, guest) is None


def test_a_user_token_carrying_a_guest_claim_is_charged_as_the_user(
    database_url: str, db: Db
) -> None:
    user, guest = a_user_with(database_url, db, 50), a_guest()

    charged = charge(db, {**user.caller.claims, "guest_session": guest.session_id}, "generate")

    assert (charged["cost"], balance(db, user), usage(db, guest)) == (10, (40, "free"), None)


# refund_charge -------------------------------------------------------------------------------


def test_a_refund_gives_the_cost_back_once(database_url: str, db: Db) -> None:
    user = a_user_with(database_url, db, 50)
    charged = charge(db, user, "deploy")

    [refunded] = call(db, "refund_charge", charged["charge_id"])
    [again] = call(db, "refund_charge", charged["charge_id"])

    assert refunded == {"outcome": "refunded", "refund_id": refunded["refund_id"], "balance": 50}
    assert again == {**refunded, "outcome": "already_refunded"}
    assert [
        (row["type"], row["amount"], row["balance_after"], row["refund_of"])
        for row in ledger(db, user)
    ] == [
        ("admin_grant", 50, 50, None),
        ("charge", -20, 30, None),
        ("refund", 20, 50, charged["charge_id"]),
    ]


def test_refunds_racing_for_one_charge_write_one_refund(database_url: str, db: Db) -> None:
    user = a_user_with(database_url, db, 50)
    charged = charge(db, user, "generate")

    outcomes = run_in_parallel(
        database_url, 10, lambda conn: call(conn, "refund_charge", charged["charge_id"])[0]
    )

    assert sorted(row["outcome"] for row in outcomes) == ["already_refunded"] * 9 + ["refunded"]
    assert balance(db, user) == (50, "free")
    assert [row["type"] for row in ledger(db, user)].count("refund") == 1


def test_a_refunded_guest_charge_gives_the_quota_back_once(db: Db) -> None:
    guest = a_guest()
    charged = charge(db, guest, "generate")

    [refunded] = call(db, "refund_charge", charged["charge_id"])
    [again] = call(db, "refund_charge", charged["charge_id"])

    assert (refunded["outcome"], again["outcome"]) == ("refunded", "already_refunded")
    assert usage(db, guest) == (0, 0)
    assert charge(db, guest, "generate")["outcome"] == "charged"
    assert charge(db, guest, "generate")["outcome"] == "quota_exceeded"


def test_only_a_charge_can_be_refunded(database_url: str, db: Db) -> None:
    user = a_user_with(database_url, db, 50)
    [grant] = ledger(db, user)
    [refund] = call(db, "refund_charge", charge(db, user, "generate")["charge_id"])

    outcomes = [
        call(db, "refund_charge", charge_id)[0]
        for charge_id in (uuid.uuid4(), grant["id"], refund["refund_id"])
    ]

    assert outcomes == [{"outcome": "unknown_charge", "refund_id": None, "balance": None}] * 3
    assert balance(db, user) == (50, "free")


# credit_diamonds -----------------------------------------------------------------------------


def test_a_credit_is_written_once_per_key(database_url: str, db: Db) -> None:
    user = a_user_with(database_url, db, 0)

    [credited] = call(db, "credit_diamonds", user.user_id, 30, "admin_grant", "Tack", "grant-1")
    [replayed] = call(db, "credit_diamonds", user.user_id, 99, "admin_grant", "Tack", "grant-1")
    [other] = call(db, "credit_diamonds", user.user_id, 5, "admin_grant", "Tack", "grant-2")

    assert credited == {
        "outcome": "credited",
        "transaction_id": credited["transaction_id"],
        "balance": 30,
    }
    assert replayed == {**credited, "outcome": "replayed"}
    assert (other["outcome"], other["balance"]) == ("credited", 35)
    assert balance(db, user) == (35, "free")


def test_a_credit_for_nobody_is_refused(db: Db) -> None:
    assert call(db, "credit_diamonds", uuid.uuid4(), 10, "admin_grant", "x", "k") == [
        {"outcome": "unknown_user", "transaction_id": None, "balance": None}
    ]


@pytest.mark.parametrize(
    ("amount", "kind"), [(0, "admin_grant"), (-5, "admin_grant"), (5, "charge")]
)
def test_a_credit_is_positive_and_never_a_charge_or_refund(
    amount: int, kind: str, database_url: str, db: Db
) -> None:
    user = a_user_with(database_url, db, 10)

    with pytest.raises(psycopg.errors.InvalidParameterValue):
        call(db, "credit_diamonds", user.user_id, amount, kind, "x", "k")

    assert balance(db, user) == (10, "free")


# record_checkout_payment ---------------------------------------------------------------------


def pay(
    db: Db,
    who: Person | str,
    session: str,
    *,
    event: str | None = None,
    package: str = "credits_10",
    amount: int = 4900,
    currency: str = "sek",
) -> Row:
    """Stripe's checkout.session.completed for a package, as the webhook records it."""
    user_id = who if isinstance(who, str) else who.user_id
    [row] = call(
        db,
        "record_checkout_payment",
        event or f"evt_{uuid.uuid4().hex}",
        "checkout.session.completed",
        session,
        user_id,
        package,
        amount,
        currency,
        f"pi_{session}",
    )
    return row


def a_session() -> str:
    return f"cs_test_{uuid.uuid4().hex}"


def test_a_paid_package_is_credited_once_per_session(database_url: str, db: Db) -> None:
    user = a_user_with(database_url, db, 50)
    session = a_session()

    credited = pay(db, user, session, event="evt_first" + session)
    same_event = pay(db, user, session, event="evt_first" + session)
    other_event = pay(db, user, session)

    assert [credited, same_event, other_event] == [
        {"outcome": "credited", "balance": 60},
        {"outcome": "duplicate_event", "balance": None},
        {"outcome": "duplicate_session", "balance": 60},
    ]
    purchases = [row for row in ledger(db, user) if row["type"] == "purchase"]
    assert [
        (row["amount"], row["stripe_session_id"], row["stripe_payment_intent"]) for row in purchases
    ] == [(10, session, f"pi_{session}")]


@pytest.mark.parametrize(
    "tampered",
    [
        {"amount": 100},
        {"currency": "usd"},
        {"package": "credits_50"},
        {"package": "credits_1000"},
    ],
    ids=["amount", "currency", "package", "unknown_package"],
)
def test_a_payment_that_is_not_the_packages_price_credits_nothing(
    tampered: dict[str, Any], database_url: str, db: Db
) -> None:
    user = a_user_with(database_url, db, 50)
    event, session = f"evt_{uuid.uuid4().hex}", a_session()

    mismatch = pay(db, user, session, event=event, **tampered)
    replay = pay(db, user, session, event=event)

    assert (mismatch, replay["outcome"]) == (
        {"outcome": "mismatch", "balance": 50},
        "duplicate_event",
    )
    assert balance(db, user) == (50, "free")
    recorded = db.execute("select type from public.stripe_events where id = %s", (event,))
    assert recorded.fetchall() == [{"type": "checkout.session.completed"}]


def test_a_package_paid_in_upper_case_currency_is_credited(database_url: str, db: Db) -> None:
    user = a_user_with(database_url, db, 0)

    assert pay(db, user, a_session(), currency="SEK") == {"outcome": "credited", "balance": 10}


@pytest.mark.parametrize(("tier", "after"), [("free", "pro"), ("pro", "pro"), ("admin", "admin")])
def test_the_first_purchase_makes_a_free_user_pro(
    tier: str, after: str, database_url: str, db: Db
) -> None:
    user = a_user_with(database_url, db, 0, tier=tier)

    pay(db, user, a_session(), package="credits_25", amount=9900)

    assert balance(db, user) == (25, after)


def test_a_payment_for_nobody_credits_nothing(db: Db) -> None:
    assert pay(db, str(uuid.uuid4()), a_session()) == {"outcome": "unknown_user", "balance": None}


def test_one_event_delivered_ten_times_at_once_credits_once(database_url: str, db: Db) -> None:
    user = a_user_with(database_url, db, 0)
    event, session = f"evt_{uuid.uuid4().hex}", a_session()

    outcomes = run_in_parallel(
        database_url, 10, lambda conn: pay(conn, user, session, event=event)["outcome"]
    )

    assert sorted(outcomes) == ["credited"] + ["duplicate_event"] * 9
    assert balance(db, user) == (10, "pro")


def test_ten_events_for_one_session_at_once_credit_once(database_url: str, db: Db) -> None:
    user = a_user_with(database_url, db, 0)
    session = a_session()

    outcomes = run_in_parallel(database_url, 10, lambda conn: pay(conn, user, session)["outcome"])

    assert sorted(outcomes) == ["credited"] + ["duplicate_session"] * 9
    assert balance(db, user) == (10, "pro")


# record_domain_payment -----------------------------------------------------------------------


DomainOrder = Callable[..., tuple[str, str]]


@pytest.fixture
def a_domain_order(database_url: str, db: Db) -> Iterator[DomainOrder]:
    """Makes a user's order of a 330 SEK domain waiting on its Checkout Session (or in
    `status`): (order id, session). The orders are deleted afterwards: paid or failed ones left
    in the session's database would be fulfilled or refunded by the next billing app's worker."""
    made: list[str] = []

    def make(*, status: str = "pending_payment") -> tuple[str, str]:
        user, session = a_user(database_url), a_session()
        row = db.execute(
            "insert into public.domain_orders (user_id, domain, customer_price, stripe_session_id,"
            " status) values (%s, %s, 330, %s, %s) returning id",
            (user.user_id, f"{uuid.uuid4().hex[:12]}.se", session, status),
        ).fetchone()
        assert row is not None
        made.append(str(row["id"]))
        return str(row["id"]), session

    yield make
    db.execute("delete from public.domain_orders where id = any(%s::uuid[])", (made,))


def pay_domain(
    db: Db, session: str, *, event: str | None = None, amount: int = 33000, currency: str = "sek"
) -> Row:
    [row] = call(
        db,
        "record_domain_payment",
        event or f"evt_{uuid.uuid4().hex}",
        session,
        amount,
        currency,
        "pi_domain",
    )
    return {**row, "order_id": row["order_id"] and str(row["order_id"])}


def order_state(db: Db, order: str) -> tuple[str, bool, str | None]:
    row = db.execute(
        "select status, paid_at is not null as paid, stripe_payment_intent"
        " from public.domain_orders where id = %s",
        (order,),
    ).fetchone()
    assert row is not None
    return row["status"], row["paid"], row["stripe_payment_intent"]


def test_a_paid_domain_order_is_paid_once(db: Db, a_domain_order: DomainOrder) -> None:
    order, session = a_domain_order()
    event = f"evt_{uuid.uuid4().hex}"

    outcomes = [
        pay_domain(db, session, event=event),
        pay_domain(db, session, event=event),
        pay_domain(db, session),
    ]

    assert outcomes == [
        {"outcome": "paid", "order_id": order},
        {"outcome": "duplicate_event", "order_id": None},
        {"outcome": "already_paid", "order_id": order},
    ]
    assert order_state(db, order) == ("paid", True, "pi_domain")


@pytest.mark.parametrize(
    "tampered", [{"amount": 32900}, {"currency": "usd"}], ids=["amount", "currency"]
)
def test_a_domain_payment_that_is_not_the_orders_price_pays_nothing(
    tampered: dict[str, Any], db: Db, a_domain_order: DomainOrder
) -> None:
    order, session = a_domain_order()

    assert pay_domain(db, session, **tampered) == {"outcome": "mismatch", "order_id": order}
    assert order_state(db, order) == ("pending_payment", False, None)


def test_a_payment_for_no_order_pays_nothing(db: Db) -> None:
    assert pay_domain(db, a_session()) == {"outcome": "unknown_order", "order_id": None}


@pytest.mark.parametrize("status", ["purchasing", "completed", "failed", "refunded", "cancelled"])
def test_an_order_past_payment_is_not_paid_again(
    status: str, db: Db, a_domain_order: DomainOrder
) -> None:
    order, session = a_domain_order(status=status)

    assert pay_domain(db, session) == {"outcome": "already_paid", "order_id": order}
    assert order_state(db, order) == (status, False, None)


# ledger_discrepancies ------------------------------------------------------------------------


def test_the_ledger_holds_after_every_kind_of_change_and_names_a_tampered_user(
    database_url: str, db: Db
) -> None:
    # given users who were granted, charged, refunded, replayed and paid
    alice = a_user_with(database_url, db, 50)
    admin = a_user_with(database_url, db, 0, tier="admin")
    first = charge(db, alice, "generate", "a")
    charge(db, alice, "generate", "a")
    charge(db, alice, "deploy", tier="pro")
    call(db, "refund_charge", first["charge_id"])
    call(db, "refund_charge", first["charge_id"])
    pay(db, alice, a_session(), package="credits_50", amount=17900)
    pay(db, alice, a_session(), amount=1)
    charge(db, admin, "audit_advanced")
    call(db, "credit_diamonds", admin.user_id, 5, "admin_grant", "x", "k")

    # then the ledger holds for both
    assert discrepancies(db, alice, admin) == []

    # when a row is edited behind the functions' back (by the database owner, rolled back after)
    with db.transaction(force_rollback=True):
        db.execute(
            "update public.transactions set amount = amount + 1"
            " where user_id = %s and type = 'refund'",
            (alice.user_id,),
        )

        # then the auditor names that user, with the rows that no longer add up
        assert discrepancies(db, alice, admin) == [
            {"user_id": uuid.UUID(alice.user_id), "diamonds": 80, "ledger_sum": 81, "bad_rows": 2}
        ]


def test_the_demo_seed_keeps_the_ledger(empty_database: str) -> None:
    reset(empty_database)

    with psycopg.connect(empty_database, autocommit=True, row_factory=dict_row) as seeded:
        users = seeded.execute("select count(*) as users from public.users").fetchone()
        assert users == {"users": 2}
        assert call(seeded, "ledger_discrepancies") == []


def test_a_balance_set_without_the_ledger_is_named(database_url: str, db: Db) -> None:
    user = a_user(database_url, diamonds=7)

    assert discrepancies(db, user) == [
        {"user_id": uuid.UUID(user.user_id), "diamonds": 7, "ledger_sum": 0, "bad_rows": 0}
    ]


# Races ---------------------------------------------------------------------------------------

T = TypeVar("T")


def run_in_parallel(
    database_url: str, count: int, task: Callable[[Db], T], *, connections: int = 10
) -> list[T]:
    """Run `task` `count` times over `connections` connections, all starting together."""
    workers = min(connections, count)
    start = threading.Barrier(workers)

    def worker(share: int) -> list[T]:
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            start.wait()
            return [task(conn) for _ in range(share)]

    shares = [count // workers + (index < count % workers) for index in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        return [result for results in pool.map(worker, shares) for result in results]


def test_a_thousand_charges_at_once_take_exactly_what_the_balance_allows(
    database_url: str, db: Db
) -> None:
    # given a balance of 95 and generations costing 10
    user = a_user_with(database_url, db, 95)

    # when 1,000 charges race on it
    charges = run_in_parallel(database_url, 1000, lambda conn: charge(conn, user, "generate"))

    # then exactly nine went through, the rest were told they are short, and the ledger holds
    outcomes = [row["outcome"] for row in charges]
    assert (outcomes.count("charged"), outcomes.count("insufficient")) == (9, 991)
    assert sorted(row["balance"] for row in charges if row["outcome"] == "charged") == list(
        range(5, 95, 10)
    )
    assert all(row["balance"] >= 0 for row in charges)
    assert balance(db, user) == (5, "free")
    assert discrepancies(db, user) == []


def test_one_key_sent_twenty_times_at_once_charges_once(database_url: str, db: Db) -> None:
    user = a_user_with(database_url, db, 50)

    charges = run_in_parallel(database_url, 20, lambda conn: charge(conn, user, "refine", "same"))

    assert sorted(row["outcome"] for row in charges) == ["charged"] + ["replayed"] * 19
    assert len({row["charge_id"] for row in charges}) == 1
    assert balance(db, user) == (44, "free")
    assert discrepancies(db, user) == []


def test_one_guest_key_sent_twenty_times_at_once_uses_the_quota_once(
    database_url: str, db: Db
) -> None:
    guest = a_guest()

    charges = run_in_parallel(database_url, 20, lambda conn: charge(conn, guest, "generate", "g"))

    assert sorted(row["outcome"] for row in charges) == ["charged"] + ["replayed"] * 19
    assert len({row["charge_id"] for row in charges}) == 1
    assert usage(db, guest) == (1, 0)


def test_twenty_guest_generations_at_once_use_the_one_free_generation(
    database_url: str, db: Db
) -> None:
    guest = a_guest()

    charges = run_in_parallel(database_url, 20, lambda conn: charge(conn, guest, "generate"))

    assert sorted(row["outcome"] for row in charges) == ["charged"] + ["quota_exceeded"] * 19
    assert usage(db, guest) == (1, 0)


# Through the Data API --------------------------------------------------------------------------


def test_every_billing_function_is_executable_by_exactly_its_callers(db: Db) -> None:
    assert executors(db, list(EXECUTORS)) == EXECUTORS


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("function", SERVICE_FUNCTIONS)
def test_no_client_calls_billings_service_functions(
    function: str, client: str, http: httpx.Client
) -> None:
    response = http.post(
        f"/rpc/{function}", json=SERVICE_FUNCTIONS[function], headers=as_client(CLIENTS[client]())
    )

    assert response.status_code in (401, 403), response.text


@pytest.mark.parametrize("function", SERVICE_FUNCTIONS)
def test_the_service_role_calls_billings_service_functions(
    function: str, http: httpx.Client
) -> None:
    response = http.post(
        f"/rpc/{function}",
        json=SERVICE_FUNCTIONS[function],
        headers=as_client(service_role_key(JWT_SECRET)),
    )

    assert response.status_code == 200, response.text


def test_a_user_charges_itself_through_the_data_api_and_no_one_else(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    # given two users with 50 diamonds each
    alice, bob = a_user_with(database_url, db, 50), a_user_with(database_url, db, 50)
    arguments = {"p_action": "generate", "p_model_tier": None, "p_idempotency_key": "k"}

    # when alice charges, and tries to name bob as the one charged
    own = http.post(
        "/rpc/charge_credits",
        json=arguments,
        headers=as_client(alice.token, "return=representation"),
    )
    naming_bob = http.post(
        "/rpc/charge_credits",
        json={**arguments, "p_user_id": bob.user_id},
        headers=as_client(alice.token),
    )

    # then alice paid, and no function takes a user to charge
    assert own.status_code == 200
    assert [(row["outcome"], row["balance"]) for row in own.json()] == [("charged", 40)]
    assert (naming_bob.status_code, naming_bob.json()["code"]) == (404, "PGRST202")
    assert (balance(db, alice), balance(db, bob)) == ((40, "free"), (50, "free"))


def test_charges_through_the_data_api_race_to_exactly_what_the_balance_allows(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    user = a_user_with(database_url, db, 95)

    def charge_over_http(_: int) -> str:
        response = http.post(
            "/rpc/charge_credits",
            json={"p_action": "generate", "p_model_tier": None, "p_idempotency_key": None},
            headers=as_client(user.token, "return=representation"),
        )
        assert response.status_code == 200, response.text
        return str(response.json()[0]["outcome"])

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(charge_over_http, range(100)))

    assert (outcomes.count("charged"), outcomes.count("insufficient")) == (9, 91)
    assert balance(db, user) == (5, "free")
    assert discrepancies(db, user) == []


def test_a_guest_cannot_raise_its_own_quota(db: Db, http: httpx.Client) -> None:
    # given a guest that used its free generation
    guest = a_guest()
    charged = charge(db, guest, "generate")
    headers = as_client(guest.token, "return=minimal,count=exact,tx=rollback")

    # when it resets its usage, makes itself a fresh row, or refunds its own charge
    reset = http.patch(
        "/guest_usage",
        params={"session_id": f"eq.{guest.session_id}"},
        json={"generations_used": 0},
        headers=headers,
    )
    fresh = http.delete(
        "/guest_usage", params={"session_id": f"eq.{guest.session_id}"}, headers=headers
    )
    refund = http.post(
        "/rpc/refund_charge", json={"p_charge_id": str(charged["charge_id"])}, headers=headers
    )
    forget = http.delete(
        "/guest_charges", params={"id": f"eq.{charged['charge_id']}"}, headers=headers
    )

    # then every attempt is refused and the quota is spent
    refusals = [reset, fresh, refund, forget]
    assert all(response.status_code in (401, 403) for response in refusals), refusals
    again = http.post(
        "/rpc/charge_credits",
        json={"p_action": "generate", "p_model_tier": None, "p_idempotency_key": "again"},
        headers=as_client(guest.token, "return=representation"),
    )
    assert again.json()[0]["outcome"] == "quota_exceeded"
    assert usage(db, guest) == (1, 0)


def test_a_token_signed_for_anon_naming_a_user_charges_no_one(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    user = a_user_with(database_url, db, 50)
    token = mint(JWT_SECRET, {"role": "anon", "sub": user.user_id})

    response = http.post(
        "/rpc/charge_credits",
        json={"p_action": "generate", "p_model_tier": None, "p_idempotency_key": "k"},
        headers=as_client(token, "return=representation"),
    )

    assert response.json()[0]["outcome"] == "requires_account"
    assert balance(db, user) == (50, "free")
