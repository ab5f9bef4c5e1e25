"""Google's OAuth 2.0 / OpenID Connect endpoints, as a web-server app's sign-in sees them.

Authorization (`GET /o/oauth2/v2/auth`): the browser arrives with the app's parameters; the fake
"signs in" its current `identity` at once and redirects back with `code` and `state`, as Google
does after consent (an invalid request gets Google's 400 error page instead). Token
(`POST /token`, form-encoded): checks the client credentials, the code (single use), the
redirect URI and the PKCE S256 verifier, and answers with Google's token JSON or its
`{"error": ...}` body. Userinfo (`GET /v1/userinfo`): the identity's OpenID claims for a valid
bearer access token.
"""

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import jwt

AUTHORIZE_PATH = "/o/oauth2/v2/auth"
TOKEN_PATH = "/token"
USERINFO_PATH = "/v1/userinfo"
GRANTED_SCOPE = (
    "openid https://www.googleapis.com/auth/userinfo.email "
    "https://www.googleapis.com/auth/userinfo.profile"
)
# Signs the (unchecked by the app) id_token, so it is a well-formed JWT like Google's.
ID_TOKEN_KEY = "google-fake-id-token-signing-key-32-bytes!"


@dataclass
class GoogleIdentity:
    """A Google account as userinfo describes it."""

    sub: str
    email: str
    email_verified: bool = True
    name: str = "Test Person"
    picture: str = "https://lh3.googleusercontent.com/a/test-photo=s96-c"

    @classmethod
    def new(cls, email: str, *, email_verified: bool = True) -> "GoogleIdentity":
        return cls(sub=str(secrets.randbelow(10**21)), email=email, email_verified=email_verified)

    @property
    def claims(self) -> dict[str, Any]:
        given, _, family = self.name.partition(" ")
        return {
            "sub": self.sub,
            "name": self.name,
            "given_name": given,
            "family_name": family,
            "picture": self.picture,
            "email": self.email,
            "email_verified": self.email_verified,
        }


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    identity: GoogleIdentity


@dataclass
class FakeGoogle:
    """Google for one registered OAuth client; `identity` is who signs in next."""

    client_id: str
    client_secret: str
    identity: GoogleIdentity
    base_url: str = ""
    """Set once served; the endpoints' URLs derive from it."""
    authorizations: list[dict[str, str]] = field(default_factory=list, init=False)
    """The query of every authorization request, in order."""
    token_requests: list[dict[str, str]] = field(default_factory=list, init=False)
    """The form of every token request, in order."""
    _grants: dict[str, _Grant] = field(default_factory=dict, init=False, repr=False)
    _access_tokens: dict[str, GoogleIdentity] = field(default_factory=dict, init=False, repr=False)

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}{AUTHORIZE_PATH}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"

    @property
    def userinfo_url(self) -> str:
        return f"{self.base_url}{USERINFO_PATH}"

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == AUTHORIZE_PATH:
            return self._authorize(dict(request.url.params))
        if request.method == "POST" and path == TOKEN_PATH:
            return self._token(dict(parse_qsl(request.content.decode())))
        if request.method == "GET" and path == USERINFO_PATH:
            return self._userinfo(request.headers.get("authorization", ""))
        return httpx.Response(404, text="Not Found")

    def _authorize(self, params: dict[str, str]) -> httpx.Response:
        self.authorizations.append(params)
        problem = self._authorization_problem(params)
        if problem:
            # Google shows the user an error page; it never redirects for these.
            return httpx.Response(
                400, text=f"Error 400: {problem}", headers={"content-type": "text/html"}
            )
        code = f"4/0A{secrets.token_urlsafe(40)}"
        self._grants[code] = _Grant(
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            code_challenge=params.get("code_challenge"),
            code_challenge_method=params.get("code_challenge_method"),
            identity=self.identity,
        )
        query = urlencode(
            {
                "state": params.get("state", ""),
                "code": code,
                "scope": GRANTED_SCOPE,
                "authuser": "0",
                "prompt": "consent",
            }
        )
        return httpx.Response(302, headers={"location": f"{params['redirect_uri']}?{query}"})

    def _authorization_problem(self, params: dict[str, str]) -> str | None:
        if params.get("client_id") != self.client_id:
            return "invalid_client"
        if params.get("response_type") != "code" or not params.get("redirect_uri"):
            return "invalid_request"
        if "openid" not in params.get("scope", "").split():
            return "invalid_scope"
        if "code_challenge" in params and params.get("code_challenge_method") != "S256":
            return "invalid_request"
        return None

    def _token(self, form: dict[str, str]) -> httpx.Response:
        self.token_requests.append(form)
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return _oauth_error(401, "invalid_client", "Unauthorized")
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "Invalid grant_type: ")
        grant = self._grants.pop(form.get("code", ""), None)
        if grant is None or grant.client_id != form["client_id"]:
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        if grant.redirect_uri != form.get("redirect_uri"):
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                return _oauth_error(400, "invalid_grant", "Missing code verifier.")
            if s256(verifier) != grant.code_challenge:
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        access_token = f"ya29.{secrets.token_urlsafe(60)}"
        self._access_tokens[access_token] = grant.identity
        now = int(time.time())
        id_token = jwt.encode(
            {
                "iss": "https://accounts.google.com",
                "azp": self.client_id,
                "aud": self.client_id,
                "iat": now,
                "exp": now + 3600,
                **grant.identity.claims,
            },
            ID_TOKEN_KEY,
            "HS256",
        )
        return httpx.Response(
            200,
            json={
                "access_token": access_token,
                "expires_in": 3599,
                "scope": GRANTED_SCOPE,
                "token_type": "Bearer",
                "id_token": id_token,
            },
        )

    def _userinfo(self, authorization: str) -> httpx.Response:
        scheme, _, token = authorization.partition(" ")
        identity = self._access_tokens.get(token) if scheme.lower() == "bearer" else None
        if identity is None:
            return httpx.Response(
                401,
                json={"error": "invalid_request", "error_description": "Invalid Credentials"},
                headers={"www-authenticate": 'Bearer error="invalid_token"'},
            )
        return httpx.Response(200, json=identity.claims)


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of `verifier` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _oauth_error(status: int, error: str, description: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "error_description": description})
