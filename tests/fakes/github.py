"""GitHub's OAuth app endpoints and `GET /user`, as account linking sees them.

Authorization (`GET /login/oauth/authorize`) signs the fake's `account` in and redirects back
with `code` and `state`. Token exchange (`POST /login/oauth/access_token`) answers JSON when
asked with `Accept: application/json`; like GitHub, a bad code is a 200 carrying
`{"error": "bad_verification_code", ...}`, not an HTTP error. `GET /user` needs
`Authorization: Bearer <token>` (or GitHub's older `token <token>`) and a User-Agent.
"""

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

AUTHORIZE_PATH = "/login/oauth/authorize"
TOKEN_PATH = "/login/oauth/access_token"
API_PREFIX = "/api"
ERROR_DOCS = (
    "https://docs.github.com/apps/managing-oauth-apps/"
    "troubleshooting-oauth-app-access-token-request-errors/"
)


@dataclass
class GitHubAccount:
    id: int
    login: str

    @property
    def user(self) -> dict[str, Any]:
        """The authenticated user as `GET /user` describes it (abridged)."""
        return {
            "login": self.login,
            "id": self.id,
            "node_id": f"MDQ6VXNlcj{self.id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{self.id}?v=4",
            "html_url": f"https://github.com/{self.login}",
            "type": "User",
            "site_admin": False,
            "name": self.login.title(),
            "email": None,
            "created_at": "2011-01-25T18:44:36Z",
        }


@dataclass
class FakeGitHub:
    """GitHub for one registered OAuth app; `account` is who authorizes next."""

    client_id: str
    client_secret: str
    account: GitHubAccount
    base_url: str = ""
    """Set once served; the endpoints' URLs derive from it."""
    authorizations: list[dict[str, str]] = field(default_factory=list, init=False)
    issued_tokens: list[str] = field(default_factory=list, init=False)
    _codes: dict[str, tuple[str, GitHubAccount]] = field(
        default_factory=dict, init=False, repr=False
    )
    _tokens: dict[str, GitHubAccount] = field(default_factory=dict, init=False, repr=False)

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}{AUTHORIZE_PATH}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}{API_PREFIX}"

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == AUTHORIZE_PATH:
            return self._authorize(dict(request.url.params))
        if request.method == "POST" and path == TOKEN_PATH:
            return self._token(request)
        if request.method == "GET" and path == f"{API_PREFIX}/user":
            return self._user(request)
        return httpx.Response(404, json={"message": "Not Found", "status": "404"})

    def _authorize(self, params: dict[str, str]) -> httpx.Response:
        self.authorizations.append(params)
        if params.get("client_id") != self.client_id or not params.get("redirect_uri"):
            return httpx.Response(404, text="Not Found", headers={"content-type": "text/html"})
        code = secrets.token_hex(10)
        self._codes[code] = (params["redirect_uri"], self.account)
        query = urlencode({"code": code, "state": params.get("state", "")})
        return httpx.Response(302, headers={"location": f"{params['redirect_uri']}?{query}"})

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return self._answer(request, _error("incorrect_client_credentials"))
        issued = self._codes.pop(form.get("code", ""), None)
        if issued is None:
            return self._answer(request, _error("bad_verification_code"))
        redirect_uri, account = issued
        if "redirect_uri" in form and form["redirect_uri"] != redirect_uri:
            return self._answer(request, _error("redirect_uri_mismatch"))
        token = f"gho_{secrets.token_urlsafe(27)}"
        self._tokens[token] = account
        self.issued_tokens.append(token)
        return self._answer(
            request, {"access_token": token, "token_type": "bearer", "scope": "repo"}
        )

    @staticmethod
    def _answer(request: httpx.Request, body: dict[str, str]) -> httpx.Response:
        # GitHub's default is a form-encoded body; JSON only when the client asks for it.
        if "application/json" in request.headers.get("accept", ""):
            return httpx.Response(200, json=body)
        return httpx.Response(
            200,
            text=urlencode(body),
            headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        )

    def _user(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("user-agent"):
            return httpx.Response(403, text="Request forbidden by administrative rules.")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        account = self._tokens.get(token) if scheme.lower() in ("bearer", "token") else None
        if account is None:
            return httpx.Response(
                401,
                json={
                    "message": "Bad credentials",
                    "documentation_url": "https://docs.github.com/rest",
                    "status": "401",
                },
            )
        return httpx.Response(200, json=account.user)


def _error(code: str) -> dict[str, str]:
    descriptions = {
        "incorrect_client_credentials": "The client_id and/or client_secret passed are incorrect.",
        "bad_verification_code": "The code passed is incorrect or expired.",
        "redirect_uri_mismatch": "The redirect_uri MUST match the registered callback URL.",
    }
    return {
        "error": code,
        "error_description": descriptions[code],
        "error_uri": f"{ERROR_DOCS}#{code.replace('_', '-')}",
    }
