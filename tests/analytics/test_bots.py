"""Which page views are a bot's: crawlers (search engines, AI crawlers, headless browsers, HTTP
libraries) and empty user agents are; browsers are not; prefetches are announced by headers."""

import pytest

from services.analytics.bots import BotFilter, is_prefetch

BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "",
    "   ",
]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
]


@pytest.mark.parametrize("agent", BOTS)
def test_crawlers_and_empty_agents_are_bots(agent: str) -> None:
    bots = BotFilter()
    assert bots.is_bot(agent)
    assert bots.is_bot(agent)  # the cached answer is the same


@pytest.mark.parametrize("agent", BROWSERS)
def test_browsers_are_not_bots(agent: str) -> None:
    assert not BotFilter().is_bot(agent)


def test_a_missing_agent_is_a_bot() -> None:
    assert BotFilter().is_bot(None)


@pytest.mark.parametrize(
    ("headers", "prefetch"),
    [
        ({"sec-purpose": "prefetch"}, True),
        ({"sec-purpose": "prefetch;prerender"}, True),
        ({"purpose": "prefetch"}, True),
        ({"x-moz": "prefetch"}, True),
        ({}, False),
        ({"sec-fetch-mode": "navigate"}, False),
    ],
)
def test_prefetches_are_told_by_their_headers(headers: dict[str, str], prefetch: bool) -> None:
    assert is_prefetch(headers) is prefetch
