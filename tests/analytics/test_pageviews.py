"""Page views through the service, on both data planes: anyone's view is answered 202 at once and
stored with the next batch, attributed to its user or guest; fields are clipped and the query
string dropped but for utm_*; bots, empty user agents and prefetches get the same 202 and are not
stored; the client address is hashed, never stored or logged, and taken from X-Forwarded-For only
behind a trusted proxy; views are rate limited per caller."""

import asyncio
import logging
import re

import msgspec
import pytest

from services.analytics.app import create_app
from shared.config import Settings
from tests.analytics.conftest import BROWSER, AnalyticsClient, Db, stored, views_of
from tests.conftest import JWT_SECRET
from tests.serving import serving
from tests.tenancy import anon_key
from tests.world import a_guest, a_user, bearer

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HASH = re.compile(r"[0-9a-f]{32}")


async def until_stored(db: Db, run: str, count: int, timeout_s: float = 10.0) -> None:
    """Wait for `count` views under `run` (the flusher writes every 50 ms in these tests)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while views_of(db, run) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{views_of(db, run)} of {count}"
        await asyncio.sleep(0.05)


async def test_anyones_view_is_answered_202_and_stored_as_theirs(
    analytics: AnalyticsClient, db: Db, run: str, database_url: str
) -> None:
    user = a_user(database_url)
    guest = a_guest()
    browser = {"User-Agent": BROWSER}
    anonymous = await analytics.post(
        "/analytics/pageview",
        json={"path": f"{run}/anon"},
        headers={**browser, "apikey": anon_key(JWT_SECRET)},
    )
    nobody = await analytics.post(
        "/analytics/pageview", json={"path": f"{run}/none"}, headers=browser
    )
    as_guest = await analytics.post(
        "/analytics/pageview", json={"path": f"{run}/guest"}, headers={**browser, **bearer(guest)}
    )
    as_user = await analytics.post(
        "/analytics/pageview",
        json={"path": f"{run}/user", "referrer": "https://google.com/"},
        headers={**browser, **bearer(user)},
    )

    assert [r.status_code for r in (anonymous, nobody, as_guest, as_user)] == [202] * 4
    assert as_user.content == b""
    await until_stored(db, run, 4)
    rows = {row["path"]: row for row in stored(db, run)}
    assert rows[f"{run}/anon"]["user_id"] is None
    assert rows[f"{run}/anon"]["session_id"] is None
    assert rows[f"{run}/none"]["user_id"] is None
    assert rows[f"{run}/none"]["session_id"] is None
    assert rows[f"{run}/guest"]["session_id"] == guest.session_id
    assert rows[f"{run}/guest"]["user_id"] is None
    assert str(rows[f"{run}/user"]["user_id"]) == user.user_id
    assert rows[f"{run}/user"]["referrer"] == "https://google.com/"
    assert rows[f"{run}/user"]["user_agent"] == BROWSER
    assert all(HASH.fullmatch(row["visitor_hash"]) for row in rows.values())


async def test_over_long_fields_are_clipped(analytics: AnalyticsClient, db: Db, run: str) -> None:
    path = f"{run}/" + "p" * 2000
    referrer = "https://example.com/" + "r" * 3000
    agent = BROWSER + " " + "u" * 1000

    answer = await analytics.post(
        "/analytics/pageview",
        json={"path": path, "referrer": referrer},
        headers={"User-Agent": agent},
    )

    assert answer.status_code == 202
    await until_stored(db, run, 1)
    [row] = stored(db, run)
    assert row["path"] == path[:512]
    assert row["referrer"] == referrer[:1024]
    assert row["user_agent"] == agent[:512]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("/pricing?token=secret&email=a@b.se", "/pricing"),
        (
            "/pricing?utm_source=news&token=secret&utm_campaign=jul",
            "/pricing?utm_source=news&utm_campaign=jul",
        ),
        ("/pricing#section", "/pricing"),
        ("https://sajtmaskin.se/pricing?utm_medium=mail#x", "/pricing?utm_medium=mail"),
    ],
)
async def test_the_query_string_is_dropped_unless_it_carries_utm(
    analytics: AnalyticsClient, db: Db, run: str, sent: str, kept: str
) -> None:
    # The run's prefix goes in front of the path (a full URL's path starts with it too).
    sent = sent.replace("/pricing", f"{run}/pricing")
    answer = await analytics.post(
        "/analytics/pageview", json={"path": sent}, headers={"User-Agent": BROWSER}
    )

    assert answer.status_code == 202
    await until_stored(db, run, 1)
    assert [row["path"] for row in stored(db, run)] == [kept.replace("/pricing", f"{run}/pricing")]


async def test_bots_empty_agents_and_prefetches_get_the_same_202_and_are_not_stored(
    analytics: AnalyticsClient, db: Db, run: str
) -> None:
    dropped = [
        {"User-Agent": GOOGLEBOT},
        {"User-Agent": "GPTBot/1.0 (+https://openai.com/gptbot)"},
        {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0.0.0 Safari/537.36"},
        {"User-Agent": "curl/8.5.0"},
        {"User-Agent": "python-requests/2.32.3"},
        {"User-Agent": ""},
        {"User-Agent": "   "},
        {"User-Agent": BROWSER, "Sec-Purpose": "prefetch"},
        {"User-Agent": BROWSER, "Sec-Purpose": "prefetch;prerender"},
        {"User-Agent": BROWSER, "Purpose": "prefetch"},
    ]
    answers = [
        await analytics.post("/analytics/pageview", json={"path": f"{run}/{i}"}, headers=headers)
        for i, headers in enumerate(dropped)
    ]
    # A real browser's view after them: once it is stored, the batch before it was written too.
    kept = await analytics.post(
        "/analytics/pageview", json={"path": f"{run}/browser"}, headers={"User-Agent": BROWSER}
    )

    assert {(a.status_code, a.content) for a in answers} == {(kept.status_code, kept.content)}
    assert kept.status_code == 202
    await until_stored(db, run, 1)
    await asyncio.sleep(0.2)
    assert [row["path"] for row in stored(db, run)] == [f"{run}/browser"]


async def test_the_address_is_hashed_never_stored_or_logged(
    analytics_settings: Settings,
    db: Db,
    run: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    address = "203.0.113.77"
    behind_proxy = create_app(
        msgspec.structs.replace(analytics_settings, trusted_proxies=("10.0.0.0/8",))
    )
    browser = {"User-Agent": BROWSER}
    async with serving(behind_proxy, "10.1.2.3") as proxied:
        forwarded = await proxied.post(
            "/analytics/pageview",
            json={"path": f"{run}/forwarded"},
            headers={**browser, "X-Forwarded-For": f"198.51.100.9, {address}"},
        )
    async with serving(create_app(analytics_settings), address) as direct:
        straight = await direct.post(
            "/analytics/pageview", json={"path": f"{run}/direct"}, headers=browser
        )
        other_agent = await direct.post(
            "/analytics/pageview",
            json={"path": f"{run}/other-agent"},
            headers={"User-Agent": BROWSER.replace("131", "130")},
        )
    # From a peer that is not a trusted proxy, X-Forwarded-For is not believed.
    async with serving(create_app(analytics_settings), "192.0.2.50") as untrusted:
        spoofing = await untrusted.post(
            "/analytics/pageview",
            json={"path": f"{run}/spoofing"},
            headers={**browser, "X-Forwarded-For": address},
        )

    assert [a.status_code for a in (forwarded, straight, other_agent, spoofing)] == [202] * 4
    rows = {row["path"].removeprefix(run): row for row in stored(db, run)}
    assert rows["/forwarded"]["visitor_hash"] == rows["/direct"]["visitor_hash"]
    assert rows["/other-agent"]["visitor_hash"] != rows["/direct"]["visitor_hash"]
    assert rows["/spoofing"]["visitor_hash"] != rows["/direct"]["visitor_hash"]
    everything_stored = " ".join(str(value) for row in rows.values() for value in row.values())
    assert address not in everything_stored
    assert "192.0.2.50" not in everything_stored
    logged = caplog.text + " ".join(str(r.msg) for r in caplog.records) + capfd.readouterr().out
    assert "request" in logged  # the access lines were captured
    assert address not in logged
    assert "192.0.2.50" not in logged


async def test_views_are_rate_limited_per_caller(
    analytics_settings: Settings, db: Db, run: str
) -> None:
    limited = msgspec.structs.replace(analytics_settings, rate_limits=("page_view=3/60",))
    guest, other = a_guest(), a_guest()
    async with serving(create_app(limited), "192.0.2.1") as client:
        answers = [
            await client.post(
                "/analytics/pageview",
                json={"path": f"{run}/{i}"},
                headers={"User-Agent": BROWSER, **bearer(guest)},
            )
            for i in range(4)
        ]
        others = await client.post(
            "/analytics/pageview",
            json={"path": f"{run}/other"},
            headers={"User-Agent": BROWSER, **bearer(other)},
        )

    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert answers[3].json()["code"] == "rate_limited"
    assert others.status_code == 202
    assert views_of(db, run) == 4


async def test_a_body_naming_an_unknown_field_or_no_path_is_refused(
    analytics: AnalyticsClient,
) -> None:
    unknown = await analytics.post(
        "/analytics/pageview", json={"path": "/", "ip": "1.2.3.4"}, headers={"User-Agent": BROWSER}
    )
    empty = await analytics.post(
        "/analytics/pageview", json={"path": ""}, headers={"User-Agent": BROWSER}
    )

    assert unknown.status_code == 422
    assert "ip" in unknown.text
    assert empty.status_code == 422
    assert "path" in empty.text


async def test_views_are_accepted_and_stored_while_the_rate_limit_store_is_down(
    analytics_settings: Settings, db: Db, run: str
) -> None:
    # Nothing listens on port 1: every limit decision times out, and `page_view` fails open.
    unlimited = msgspec.structs.replace(
        analytics_settings, redis_url="redis://127.0.0.1:1", rate_limit_timeout_ms=50
    )
    async with serving(create_app(unlimited), "192.0.2.2") as client:
        answers = [
            await client.post(
                "/analytics/pageview", json={"path": f"{run}/{i}"}, headers={"User-Agent": BROWSER}
            )
            for i in range(3)
        ]

    assert [a.status_code for a in answers] == [202, 202, 202]
    assert views_of(db, run) == 3
