"""The process's settings, read once from the environment; nothing else reads `os.environ`."""

import os
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

import msgspec

DataPlaneName = Literal["postgrest", "postgres"]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the backend takes from its environment (see the README's table)."""

    database_url: str | None = None
    """`DATABASE_URL`: the Postgres database; unset means none configured (dev embeds one)."""

    supabase_url: str | None = None
    """`SUPABASE_URL`: the hosted project, e.g. https://<ref>.supabase.co."""

    supabase_rest_url: str | None = None
    """`SUPABASE_REST_URL`: the Data API base; default `{SUPABASE_URL}/rest/v1`. Set it to serve
    from a bare PostgREST (which answers at `/`)."""

    supabase_anon_key: str | None = None
    """`SUPABASE_ANON_KEY`: the public anon key; sent as `apikey` and as the anon caller's token."""

    supabase_service_role_key: str | None = None
    """`SUPABASE_SERVICE_ROLE_KEY`: the service role's key, for server paths without a user."""

    data_plane: DataPlaneName = "postgres"
    """`DATA_PLANE`: `postgrest` or `postgres`; default `postgrest` when SUPABASE_URL is set."""

    jwt_secret: str | None = None
    """`JWT_SECRET`: the project's HS256 JWT secret (Supabase: Settings → API → JWT secret)."""

    jwks_url: str | None = None
    """`JWT_JWKS_URL`: a JWKS with the project's ES256/RS256 signing keys, matched by `kid`."""

    jwt_audience: str = "authenticated"
    """`JWT_AUDIENCE`: the `aud` that user tokens must carry."""

    jwt_private_key: str | None = None
    """`JWT_PRIVATE_KEY`: a PEM EC P-256 private key; when set, the auth service signs access
    tokens with ES256 under `JWT_KEY_ID` and serves the public key at
    /auth/.well-known/jwks.json. Otherwise it signs with HS256 and JWT_SECRET."""

    jwt_key_id: str = "sajtmaskin-1"
    """`JWT_KEY_ID`: the `kid` of JWT_PRIVATE_KEY."""

    access_token_ttl_s: int = 3600
    """`ACCESS_TOKEN_TTL_S`: lifetime of access tokens."""

    refresh_token_ttl_s: int = 30 * 24 * 3600
    """`REFRESH_TOKEN_TTL_S`: lifetime of refresh tokens (rotated on every use)."""

    guest_token_ttl_s: int = 30 * 24 * 3600
    """`GUEST_TOKEN_TTL_S`: lifetime of guest session tokens."""

    verification_ttl_s: int = 24 * 3600
    """`VERIFICATION_TTL_S`: how long an email verification link works."""

    password_reset_ttl_s: int = 3600
    """`PASSWORD_RESET_TTL_S`: how long a password reset link works."""

    public_base_url: str = "http://127.0.0.1:8000"
    """`PUBLIC_BASE_URL`: where clients reach the gateway; links in mail and OAuth redirects.
    Left unset, `sajtmaskin dev --port N` uses its own http://127.0.0.1:N."""

    app_base_url: str = "http://127.0.0.1:3000"
    """`APP_BASE_URL`: the frontend, where verification and OAuth flows send the browser back."""

    cors_origins: tuple[str, ...] = ()
    """`CORS_ORIGINS`: comma-separated origins (scheme://host[:port]) whose browsers may call the
    API with credentials and make cookie-authenticated changes; default the origin of
    APP_BASE_URL."""

    cookie_secure: bool = True
    """`COOKIE_SECURE`: mark auth cookies Secure; false only for local http."""

    oauth_state_secret: str | None = None
    """`OAUTH_STATE_SECRET`: signs OAuth state and flow cookies; default a key derived for that
    purpose alone from JWT_SECRET (never JWT_SECRET itself, which only signs access tokens)."""

    refresh_reuse_interval_s: int = 10
    """`REFRESH_REUSE_INTERVAL_S`: how long a just-rotated refresh token still yields the same
    successor (two tabs refreshing at once); reuse after it revokes the session."""

    email_from: str = "Sajtmaskin <no-reply@sajtmaskin.se>"
    """`EMAIL_FROM`: the sender of outgoing mail."""

    resend_api_key: str | None = None
    """`RESEND_API_KEY`: sends mail through Resend; unset, mail is written to the log."""

    resend_api_url: str = "https://api.resend.com"
    """`RESEND_API_URL`: Resend's API base."""

    google_client_id: str | None = None
    """`GOOGLE_CLIENT_ID`: enables Google sign-in."""

    google_client_secret: str | None = None
    """`GOOGLE_CLIENT_SECRET`."""

    google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    """`GOOGLE_AUTH_URL`: Google's authorization endpoint."""

    google_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
    """`GOOGLE_TOKEN_URL`: Google's token endpoint."""

    google_userinfo_url: str = "https://openidconnect.googleapis.com/v1/userinfo"
    """`GOOGLE_USERINFO_URL`: Google's userinfo endpoint."""

    github_client_id: str | None = None
    """`GITHUB_CLIENT_ID`: enables linking a GitHub account for code export."""

    github_client_secret: str | None = None
    """`GITHUB_CLIENT_SECRET`."""

    github_auth_url: str = "https://github.com/login/oauth/authorize"
    """`GITHUB_AUTH_URL`: GitHub's authorization endpoint."""

    github_token_url: str = "https://github.com/login/oauth/access_token"  # noqa: S105 - a URL
    """`GITHUB_TOKEN_URL`: GitHub's token endpoint."""

    github_api_url: str = "https://api.github.com"
    """`GITHUB_API_URL`: GitHub's REST API base."""

    stripe_secret_key: str | None = None
    """`STRIPE_SECRET_KEY`: the Stripe API key (sk_live_/sk_test_/rk_); enables checkout."""

    stripe_webhook_secret: str | None = None
    """`STRIPE_WEBHOOK_SECRET`: the signing secret (whsec_…) of the webhook endpoint
    /billing/stripe/webhook; events are refused without it."""

    stripe_api_base: str = "https://api.stripe.com"
    """`STRIPE_API_BASE`: Stripe's API base (tests point it at a local fake)."""

    v0_api_key: str | None = None
    """`V0_API_KEY`: the v0 Platform API key; enables generation (`sajtmaskin dev` serves a
    stand-in when it is unset)."""

    v0_api_url: str = "https://api.v0.dev/v1"
    """`V0_API_URL`: the v0 Platform API base (v1)."""

    v0_timeout_s: float = 120.0
    """`V0_TIMEOUT_S`: how long one call to v0 may take (a synchronous generation is long)."""

    v0_deadline_s: float = 300.0
    """`V0_DEADLINE_S`: how long a generation may take in all, polling a pending version
    included; past it the generation fails and its charge is refunded (the sweeper refunds
    one whose process died)."""

    vercel_token: str | None = None
    """`VERCEL_TOKEN`: a Vercel access token; enables deployments and domain orders."""

    vercel_team_id: str | None = None
    """`VERCEL_TEAM_ID`: the Vercel team that buys domains and owns projects, if any."""

    vercel_api_url: str = "https://api.vercel.com"
    """`VERCEL_API_URL`: Vercel's API base (tests point it at a local fake)."""

    vercel_webhook_secret: str | None = None
    """`VERCEL_WEBHOOK_SECRET`: the secret of the webhook /projects/vercel/webhook
    (x-vercel-signature, HMAC-SHA1 of the body); deployment events are refused without it."""

    domain_sek_per_usd: float = 11.0
    """`DOMAIN_SEK_PER_USD`: the exchange rate domain quotes use."""

    domain_price_markup: float = 3.0
    """`DOMAIN_PRICE_MARKUP`: customer price = round(USD * rate * markup) SEK."""

    redis_url: str | None = None
    """`REDIS_URL` (or `KV_URL`): Redis over TCP for caches; dev embeds one when unset."""

    upstash_redis_rest_url: str | None = None
    """`UPSTASH_REDIS_REST_URL`: Upstash's REST endpoint, for rate limits and the session cache."""

    upstash_redis_rest_token: str | None = None
    """`UPSTASH_REDIS_REST_TOKEN`: the bearer token for UPSTASH_REDIS_REST_URL."""

    redis_key_prefix: str = ""
    """`REDIS_KEY_PREFIX`: put before every key (`prod:`, `preview:`, `dev:`) so deployments can
    share one Redis."""

    rate_limit_enabled: bool = True
    """`RATE_LIMIT_ENABLED`: false turns every route's limit off (benchmarks, emergencies)."""

    rate_limits: tuple[str, ...] = ()
    """`RATE_LIMITS`: overrides of the policy table, e.g. `login=10/900,reads=300/60` (requests
    per window in seconds)."""

    rate_limit_timeout_ms: int = 50
    """`RATE_LIMIT_TIMEOUT_MS`: how long a limit decision may wait for the shared store."""

    cache_timeout_ms: int = 200
    """`CACHE_TIMEOUT_MS`: how long a cache read or write may wait before the database answers."""

    trusted_proxies: tuple[str, ...] = ()
    """`TRUSTED_PROXIES`: comma-separated addresses or CIDRs of proxies whose X-Forwarded-For is
    believed; from anyone else the socket's peer address is the client."""

    statement_timeout_ms: int = 8000
    """`STATEMENT_TIMEOUT_MS`: per-request statement timeout on the direct data plane."""

    http_timeout_s: float = 10.0
    """`HTTP_TIMEOUT_S`: read timeout of calls to the Data API and other HTTP services."""

    db_pool_size: int = 10
    """`DB_POOL_SIZE`: connections in the direct data plane's pool."""

    db_transaction_pooler: bool = False
    """`DB_TRANSACTION_POOLER`: true when DATABASE_URL is a pooler in transaction mode (Supavisor
    on port 6543), which can carry neither prepared statements from one transaction to the next
    nor a LISTEN: the direct data plane then prepares nothing on the server, and every signed-in
    request asks the database whether its session is live (`shared.session_watch`)."""

    web_concurrency: int = 1
    """`WEB_CONCURRENCY`: server processes `sajtmaskin serve` runs for its service (each with its
    own pool of DB_POOL_SIZE connections)."""

    log_level: str = "info"
    """`LOG_LEVEL`: debug, info, warning or error."""

    state_dir: str = ".state"
    """`SAJTMASKIN_STATE_DIR`: where `sajtmaskin dev` keeps embedded database and cache data."""

    supabase_storage_url: str | None = None
    """`SUPABASE_STORAGE_URL`: the Storage API base; default `{SUPABASE_URL}/storage/v1`. Without
    either, media is kept in MEDIA_DIR."""

    media_max_bytes: int = 4 * 1024 * 1024
    """`MEDIA_MAX_BYTES`: the largest file a user may upload (default 4 MiB)."""

    media_bucket: str = "media"
    """`MEDIA_BUCKET`: the Supabase Storage bucket media lives in."""

    media_dir: str | None = None
    """`MEDIA_DIR`: where media is kept without Supabase Storage; default `<state_dir>/media`."""

    media_deletion_poll_s: float = 10.0
    """`MEDIA_DELETION_POLL_S`: how often media's deletion worker looks for queued objects to
    remove from storage (a delete in the same process wakes it at once)."""

    media_deletion_retry_s: float = 30.0
    """`MEDIA_DELETION_RETRY_S`: how long queued deletions wait after storage failed them, doubled
    per failed attempt up to an hour."""

    page_view_batch_rows: int = 1000
    """`PAGE_VIEW_BATCH_ROWS`: accepted page views written in one insert once this many wait."""

    page_view_flush_ms: int = 1000
    """`PAGE_VIEW_FLUSH_MS`: the longest an accepted page view waits in memory before its batch
    is written (and so the most a crash of the process can lose)."""

    page_view_buffer_rows: int = 100_000
    """`PAGE_VIEW_BUFFER_ROWS`: views held in memory at most while the database is slow or down;
    beyond it new views are dropped (and counted), never a slower answer."""

    @property
    def storage_url(self) -> str | None:
        """The Supabase Storage API base URL, if Storage is configured."""
        if self.supabase_storage_url:
            return self.supabase_storage_url.rstrip("/")
        if self.supabase_url:
            return f"{self.supabase_url.rstrip('/')}/storage/v1"
        return None

    @property
    def media_root(self) -> str:
        """The local media directory: MEDIA_DIR, else `<state_dir>/media`."""
        return self.media_dir or f"{self.state_dir.rstrip('/')}/media"

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """The browser origins trusted with credentials: CORS_ORIGINS, else APP_BASE_URL's."""
        if self.cors_origins:
            return tuple(origin.rstrip("/") for origin in self.cors_origins)
        parts = urlsplit(self.app_base_url)
        return (f"{parts.scheme}://{parts.netloc}",)

    @property
    def rest_url(self) -> str | None:
        """The Data API base URL PostgREST answers at."""
        if self.supabase_rest_url:
            return self.supabase_rest_url.rstrip("/")
        if self.supabase_url:
            return f"{self.supabase_url.rstrip('/')}/rest/v1"
        return None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (the process environment by default).

    An empty variable counts as unset, so `DATABASE_URL=` in a shell or .env file means "none".
    """
    source = os.environ if environ is None else environ

    def get(*names: str) -> str | None:
        return next((source[name] for name in names if source.get(name)), None)

    supabase_url = get("SUPABASE_URL")
    values: dict[str, object] = {
        "database_url": get("DATABASE_URL"),
        "supabase_url": supabase_url,
        "supabase_rest_url": get("SUPABASE_REST_URL"),
        "supabase_anon_key": get("SUPABASE_ANON_KEY"),
        "supabase_service_role_key": get("SUPABASE_SERVICE_ROLE_KEY"),
        "data_plane": get("DATA_PLANE") or ("postgrest" if supabase_url else "postgres"),
        "jwt_secret": get("JWT_SECRET"),
        "jwks_url": get("JWT_JWKS_URL"),
        "jwt_audience": get("JWT_AUDIENCE"),
        "jwt_private_key": get("JWT_PRIVATE_KEY"),
        "jwt_key_id": get("JWT_KEY_ID"),
        "access_token_ttl_s": get("ACCESS_TOKEN_TTL_S"),
        "refresh_token_ttl_s": get("REFRESH_TOKEN_TTL_S"),
        "guest_token_ttl_s": get("GUEST_TOKEN_TTL_S"),
        "verification_ttl_s": get("VERIFICATION_TTL_S"),
        "password_reset_ttl_s": get("PASSWORD_RESET_TTL_S"),
        "public_base_url": get("PUBLIC_BASE_URL"),
        "app_base_url": get("APP_BASE_URL"),
        "cors_origins": _split(get("CORS_ORIGINS")),
        "cookie_secure": get("COOKIE_SECURE"),
        "oauth_state_secret": get("OAUTH_STATE_SECRET"),
        "refresh_reuse_interval_s": get("REFRESH_REUSE_INTERVAL_S"),
        "email_from": get("EMAIL_FROM"),
        "resend_api_key": get("RESEND_API_KEY"),
        "resend_api_url": get("RESEND_API_URL"),
        "google_client_id": get("GOOGLE_CLIENT_ID"),
        "google_client_secret": get("GOOGLE_CLIENT_SECRET"),
        "google_auth_url": get("GOOGLE_AUTH_URL"),
        "google_token_url": get("GOOGLE_TOKEN_URL"),
        "google_userinfo_url": get("GOOGLE_USERINFO_URL"),
        "github_client_id": get("GITHUB_CLIENT_ID"),
        "github_client_secret": get("GITHUB_CLIENT_SECRET"),
        "github_auth_url": get("GITHUB_AUTH_URL"),
        "github_token_url": get("GITHUB_TOKEN_URL"),
        "github_api_url": get("GITHUB_API_URL"),
        "stripe_secret_key": get("STRIPE_SECRET_KEY"),
        "stripe_webhook_secret": get("STRIPE_WEBHOOK_SECRET"),
        "stripe_api_base": get("STRIPE_API_BASE"),
        "v0_api_key": get("V0_API_KEY"),
        "v0_api_url": get("V0_API_URL"),
        "v0_timeout_s": get("V0_TIMEOUT_S"),
        "v0_deadline_s": get("V0_DEADLINE_S"),
        "vercel_token": get("VERCEL_TOKEN"),
        "vercel_team_id": get("VERCEL_TEAM_ID"),
        "vercel_api_url": get("VERCEL_API_URL"),
        "vercel_webhook_secret": get("VERCEL_WEBHOOK_SECRET"),
        "domain_sek_per_usd": get("DOMAIN_SEK_PER_USD"),
        "domain_price_markup": get("DOMAIN_PRICE_MARKUP"),
        "redis_url": get("REDIS_URL", "KV_URL"),
        "upstash_redis_rest_url": get("UPSTASH_REDIS_REST_URL", "KV_REST_API_URL"),
        "upstash_redis_rest_token": get("UPSTASH_REDIS_REST_TOKEN", "KV_REST_API_TOKEN"),
        "redis_key_prefix": get("REDIS_KEY_PREFIX"),
        "rate_limit_enabled": get("RATE_LIMIT_ENABLED"),
        "rate_limits": _split(get("RATE_LIMITS")),
        "rate_limit_timeout_ms": get("RATE_LIMIT_TIMEOUT_MS"),
        "cache_timeout_ms": get("CACHE_TIMEOUT_MS"),
        "trusted_proxies": _split(get("TRUSTED_PROXIES")),
        "statement_timeout_ms": get("STATEMENT_TIMEOUT_MS"),
        "http_timeout_s": get("HTTP_TIMEOUT_S"),
        "db_pool_size": get("DB_POOL_SIZE"),
        "db_transaction_pooler": get("DB_TRANSACTION_POOLER"),
        "web_concurrency": get("WEB_CONCURRENCY"),
        "log_level": get("LOG_LEVEL"),
        "state_dir": get("SAJTMASKIN_STATE_DIR"),
        "supabase_storage_url": get("SUPABASE_STORAGE_URL"),
        "media_max_bytes": get("MEDIA_MAX_BYTES"),
        "media_bucket": get("MEDIA_BUCKET"),
        "media_dir": get("MEDIA_DIR"),
        "media_deletion_poll_s": get("MEDIA_DELETION_POLL_S"),
        "media_deletion_retry_s": get("MEDIA_DELETION_RETRY_S"),
        "page_view_batch_rows": get("PAGE_VIEW_BATCH_ROWS"),
        "page_view_flush_ms": get("PAGE_VIEW_FLUSH_MS"),
        "page_view_buffer_rows": get("PAGE_VIEW_BUFFER_ROWS"),
    }
    # Unset values keep their defaults; set ones are validated and converted (str → int, Path…).
    return msgspec.convert(
        {key: value for key, value in values.items() if value is not None},
        Settings,
        strict=False,
    )


def _split(value: str | None) -> list[str] | None:
    return [item.strip() for item in value.split(",") if item.strip()] if value else None
