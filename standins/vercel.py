"""Vercel's REST API as the product uses it: deployments with their states and signed webhooks,
a project's domains, and the domain registrar.

Deployments (research services.md §2):
- `POST /v13/deployments?teamId=&skipAutoDetectionConfirmation=1` with `{name, target?, files:
  [{file, data (base64), encoding: "base64"}]}` → the deployment, `readyState` QUEUED: `id`
  `dpl_…`, `url` a host without a scheme, `inspectorUrl`, `projectId` `prj_…` (one project per
  `name`, created by its first deployment), `createdAt` in ms, `name`, `meta`, `regions`, …
- `GET /v13/deployments/{id}` → the same, one state further on each look: QUEUED → BUILDING →
  READY, or the end a test planned for it (`end_next`: ERROR, CANCELED or BLOCKED).
- `delivery(id, type)` builds a webhook delivery as Vercel sends it: the envelope `{id, type,
  createdAt, region, payload: {team, user, deployment: {id, meta, url, name}, links, target,
  project: {id}, plan, regions}}`, signed `x-vercel-signature` = hex HMAC-SHA1 of the raw body
  with the webhook secret.
- `POST /v9/projects/{idOrName}/domains {name}` → `{name, apexName, projectId, verified, …}`.

The registrar (`/v1/registrar/...`, the current API and SDK):
- `GET /v1/registrar/domains/{domain}/price?years=` → `{years, purchasePrice, renewalPrice,
  transferPrice}`, prices in USD as a number or a string.
- `GET /v1/registrar/domains/{domain}/availability` → `{available}`.
- `POST /v1/registrar/domains/{domain}/buy` with `{autoRenew, years, expectedPrice,
  contactInformation}` → `{orderId, links}` only.
- `GET /v1/registrar/orders/{orderId}` → `{orderId, domains: [...], status, error?}`, status
  `purchasing` for `purchasing_polls` looks, then `completed` (or `failed` when the stand-in is
  told to fail registrations).

Every request needs `Authorization: Bearer <token>` (and `?teamId=` when the stand-in has a
team). Errors are the REST API's `{"error": {code, message}}`; the registrar's are flat
`{status, code, message, _tag}`.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

REQUIRED_CONTACT = (
    "firstName",
    "lastName",
    "email",
    "phone",
    "address1",
    "city",
    "state",
    "zip",
    "country",
)

FINAL_STATES = frozenset({"READY", "ERROR", "CANCELED", "BLOCKED"})
PLANNABLE_ENDS = frozenset({"READY", "ERROR", "CANCELED", "BLOCKED"})
EVENT_STATES = {
    "deployment.created": "BUILDING",
    "deployment.succeeded": "READY",
    "deployment.ready": "READY",
    "deployment.promoted": "READY",
    "deployment.error": "ERROR",
    "deployment.canceled": "CANCELED",
}
"""Where a deployment stands when Vercel sends each event about it."""

NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,98}[a-z0-9])?$")
DOMAIN_PATTERN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
REGION = "arn1"


@dataclass
class VercelStandIn:
    # Stand-in credentials, known to the tests and to `sajtmaskin dev`: no real secret.
    token: str = "vercel_fake_token_for_billing_tests"  # noqa: S105
    team_id: str | None = "team_fake"
    base_url: str = ""
    """Set once served."""
    webhook_secret: str = "vercel_fake_webhook_secret"  # noqa: S105
    """What deliveries are signed with (the app's VERCEL_WEBHOOK_SECRET)."""

    # The registrar ------------------------------------------------------------------------------
    price: float | str = 12.5
    """What any supported domain costs per purchase, in USD (a number or a string)."""
    taken: set[str] = field(default_factory=set)
    """Domains registered already (by anyone)."""
    unsupported_tlds: frozenset[str] = frozenset({"local", "test"})
    purchasing_polls: int = 0
    """How many looks at a new order still find it purchasing."""
    fail_registrations: bool = False
    """Orders end `failed` instead of `completed`."""
    rate_limit_buys: int = 0
    """How many coming purchases answer 429."""

    # Deployments and projects -------------------------------------------------------------------
    end_next: list[str] = field(default_factory=list)
    """How coming deployments end (ERROR, CANCELED, BLOCKED; READY when the list is empty)."""
    fail_creates: list[tuple[int, str, str]] = field(default_factory=list)
    """(status, code, message) answered by coming deployment creates, before anything is made."""
    fail_domain_adds: list[tuple[int, str, str]] = field(default_factory=list)
    """The same for coming domain additions."""

    received: list[httpx.Request] = field(default_factory=list, init=False)
    purchases: list[dict[str, Any]] = field(default_factory=list, init=False)
    """The body of every purchase accepted, in order."""
    orders: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    """Every deployment made, by id, as the API shows it."""
    files: dict[str, dict[str, bytes]] = field(default_factory=dict, init=False)
    """Each deployment's files, decoded: path → bytes."""
    projects: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    """Projects by id: `{id, name, accountId, createdAt}`."""
    domains: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, init=False)
    """Each project's domains: project id → domain → its record."""
    _looks: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _paths: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _api_error(403, "forbidden", "Not authorized", invalidToken=True)
        if self.team_id is not None and request.url.params.get("teamId") != self.team_id:
            return _api_error(403, "forbidden", "You don't have access to this team")
        parts = request.url.path.strip("/").split("/")
        match (request.method, parts):
            case ("GET", ["v1", "registrar", "domains", domain, "price"]):
                return self._price(domain, request.url.params.get("years", "1"))
            case ("GET", ["v1", "registrar", "domains", domain, "availability"]):
                return self._unsupported(domain) or httpx.Response(
                    200, json={"available": domain not in self.taken}
                )
            case ("POST", ["v1", "registrar", "domains", domain, "buy"]):
                return self._buy(domain, request)
            case ("GET", ["v1", "registrar", "orders", order_id]):
                return self._order(order_id)
            case ("POST", ["v13", "deployments"]):
                return self._deploy(request)
            case ("GET", ["v13", "deployments", deployment_id]):
                return self._deployment(deployment_id)
            case ("POST", ["v9", "projects", id_or_name, "domains"]):
                return self._add_domain(id_or_name, request)
            case ("GET", ["v9", "projects", id_or_name, "domains"]):
                project = self._project(id_or_name)
                if project is None:
                    return _api_error(404, "not_found", "Project not found")
                return httpx.Response(
                    200, json={"domains": list(self.domains.get(project["id"], {}).values())}
                )
        return _api_error(404, "not_found", "The requested path was not found")

    def configuration(self) -> dict[str, str | None]:
        """The settings that point the app at this stand-in, with its token, team and webhook
        secret."""
        return {
            "vercel_token": self.token,
            "vercel_team_id": self.team_id,
            "vercel_api_url": self.base_url,
            "vercel_webhook_secret": self.webhook_secret,
        }

    # Webhooks ------------------------------------------------------------------------------------

    def delivery(
        self, deployment_id: str, event_type: str = "deployment.succeeded", **payload: Any
    ) -> tuple[bytes, dict[str, str]]:
        """A webhook delivery about one of this stand-in's deployments, as Vercel sends it: the
        raw body and its headers (`x-vercel-signature`). A deployment event also moves the
        deployment to the state it announces, so a refresh agrees with the webhook. `payload`
        adds or replaces fields of the payload."""
        deployment = self.deployments[deployment_id]
        if (state := EVENT_STATES.get(event_type)) is not None:
            self._settle(deployment_id, state)
        project = self.projects[deployment["projectId"]]
        body: dict[str, Any] = {
            "team": {"id": self.team_id},
            "user": {"id": deployment["creator"]["uid"]},
            "deployment": {
                "id": deployment_id,
                "meta": deployment["meta"],
                "url": deployment["url"],
                "name": deployment["name"],
            },
            "links": {
                "deployment": deployment["inspectorUrl"],
                "project": f"https://vercel.com/{self._scope}/{project['name']}",
            },
            "target": deployment["target"],
            "project": {"id": project["id"]},
            "plan": "hobby",
            "regions": [REGION],
        }
        if event_type == "deployment.created":
            body["alias"] = deployment["alias"]
        return self.envelope(event_type, {**body, **payload})

    def envelope(self, event_type: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """Any delivery (an unknown deployment, another event type): the envelope around
        `payload`, serialised once, and its signature over exactly those bytes."""
        raw = json.dumps(
            {
                "id": f"{secrets.token_hex(12)}",
                "type": event_type,
                "createdAt": _now_ms(),
                "region": "iad1",
                "payload": payload,
            },
            separators=(",", ":"),
        ).encode()
        return raw, self.signed(raw)

    def signed(self, raw: bytes) -> dict[str, str]:
        """The headers of a delivery of `raw`: `x-vercel-signature` = hex HMAC-SHA1 of the raw
        body, keyed by the webhook secret."""
        signature = hmac.new(self.webhook_secret.encode(), raw, hashlib.sha1).hexdigest()
        return {"content-type": "application/json", "x-vercel-signature": signature}

    # Deployments ---------------------------------------------------------------------------------

    def _deploy(self, request: httpx.Request) -> httpx.Response:
        if self.fail_creates:
            status, code, message = self.fail_creates.pop(0)
            if status == 429:
                return _rate_limited(message)
            return _api_error(status, code, message)
        try:
            body = json.loads(request.content)
        except ValueError:
            return _api_error(400, "bad_request", "Invalid JSON body")
        if not isinstance(body, dict):
            return _api_error(400, "bad_request", "The body must be an object")
        name = body.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > 100:
            return _api_error(400, "bad_request", "Invalid request: `name` is not a project name")
        target = body.get("target")
        if target not in (None, "production", "staging", "preview"):
            return _api_error(400, "bad_request", "Invalid request: `target` is not a target")
        decoded = _decoded_files(body.get("files"))
        if isinstance(decoded, str):
            return _api_error(400, "bad_request", f"Invalid request: {decoded}")
        if not decoded:
            return _api_error(400, "missing_files", "Missing files")
        project = self._project(name) or self._new_project(name)
        deployment_id = f"dpl_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')}"
        url = f"{name[:40].rstrip('.-_')}-{secrets.token_hex(5)[:9]}-{self._scope}.vercel.app"
        created = _now_ms()
        deployment: dict[str, Any] = {
            "id": deployment_id,
            "url": url,
            "name": name,
            "projectId": project["id"],
            "inspectorUrl": f"https://vercel.com/{self._scope}/{name}/{deployment_id[4:]}",
            "readyState": "QUEUED",
            "status": "QUEUED",
            "readySubstate": None,
            "createdAt": created,
            "buildingAt": created,
            "ready": None,
            "target": "production" if target == "production" else None,
            "meta": body.get("meta") if isinstance(body.get("meta"), dict) else {},
            "regions": [REGION],
            "public": False,
            "aliasAssigned": False,
            "alias": [f"{name}-{self._scope}.vercel.app"],
            "aliasError": None,
            "creator": {"uid": "usr_standin", "username": "standin"},
            "ownerId": self.team_id or "usr_standin",
            "type": "LAMBDAS",
            "version": 2,
            "plan": "hobby",
            "source": "api",
            "errorCode": None,
            "errorMessage": None,
        }
        end = self.end_next.pop(0) if self.end_next else "READY"
        if end not in PLANNABLE_ENDS:
            raise ValueError(f"a deployment cannot end {end!r}")
        self._paths[deployment_id] = ["QUEUED", "BUILDING", end]
        self._looks[deployment_id] = 0
        self.deployments[deployment_id] = deployment
        self.files[deployment_id] = decoded
        return httpx.Response(200, json=deployment)

    def _deployment(self, deployment_id: str) -> httpx.Response:
        deployment = self.deployments.get(deployment_id)
        if deployment is None:
            return _api_error(404, "not_found", "Deployment not found")
        if deployment["readyState"] not in FINAL_STATES:
            path = self._paths[deployment_id]
            self._looks[deployment_id] = looks = self._looks[deployment_id] + 1
            self._settle(deployment_id, path[min(looks, len(path) - 1)])
        return httpx.Response(200, json=deployment)

    def state(self, deployment_id: str) -> str:
        """Where a deployment stands now (without looking at it as a client would)."""
        state: str = self.deployments[deployment_id]["readyState"]
        return state

    def _settle(self, deployment_id: str, state: str) -> None:
        deployment = self.deployments[deployment_id]
        deployment["readyState"] = deployment["status"] = state
        if state == "READY":
            deployment["ready"] = _now_ms()
            deployment["aliasAssigned"] = True
        elif state == "ERROR":
            deployment["errorCode"] = "BUILD_FAILED"
            deployment["errorMessage"] = "The build failed"

    # Projects and their domains -------------------------------------------------------------------

    @property
    def _scope(self) -> str:
        return (self.team_id or "standin").replace("_", "-")

    def _project(self, id_or_name: str) -> dict[str, Any] | None:
        if id_or_name in self.projects:
            return self.projects[id_or_name]
        return next((p for p in self.projects.values() if p["name"] == id_or_name), None)

    def _new_project(self, name: str) -> dict[str, Any]:
        project_id = f"prj_{secrets.token_urlsafe(21).replace('-', 'x').replace('_', 'y')}"
        project = {
            "id": project_id,
            "name": name,
            "accountId": self.team_id or "usr_standin",
            "createdAt": _now_ms(),
        }
        self.projects[project_id] = project
        return project

    def _add_domain(self, id_or_name: str, request: httpx.Request) -> httpx.Response:
        if self.fail_domain_adds:
            status, code, message = self.fail_domain_adds.pop(0)
            return _api_error(status, code, message)
        project = self._project(id_or_name)
        if project is None:
            return _api_error(404, "not_found", "Project not found")
        try:
            body = json.loads(request.content)
        except ValueError:
            return _api_error(400, "bad_request", "Invalid JSON body")
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not DOMAIN_PATTERN.match(name):
            return _api_error(400, "invalid_domain", "Invalid request: `name` is not a domain")
        for other_id, domains in self.domains.items():
            if name in domains and other_id != project["id"]:
                return _api_error(
                    409,
                    "domain_already_in_use",
                    f"Cannot add {name} since it's already in use by another project.",
                )
        existing = self.domains.get(project["id"], {}).get(name)
        if existing is not None:
            return _api_error(
                409, "domain_already_exists", f"{name} is already assigned to this project."
            )
        now = _now_ms()
        record = {
            "name": name,
            "apexName": ".".join(name.split(".")[-2:]),
            "projectId": project["id"],
            "redirect": None,
            "redirectStatusCode": None,
            "gitBranch": None,
            "updatedAt": now,
            "createdAt": now,
            "verified": name in self.taken,
        }
        self.domains.setdefault(project["id"], {})[name] = record
        return httpx.Response(200, json=record)

    # The registrar --------------------------------------------------------------------------------

    def _price(self, domain: str, years: str) -> httpx.Response:
        if unsupported := self._unsupported(domain):
            return unsupported
        if not years.isdigit() or not 1 <= int(years) <= 10:
            return _registrar_error(
                400, "HttpApiDecodeError", "bad_request", "years must be 1 to 10"
            )
        return httpx.Response(
            200,
            json={
                "years": int(years),
                "purchasePrice": self.price,
                "renewalPrice": self.price,
                "transferPrice": self.price,
            },
        )

    def _buy(self, domain: str, request: httpx.Request) -> httpx.Response:
        if unsupported := self._unsupported(domain):
            return unsupported
        if self.rate_limit_buys > 0:
            self.rate_limit_buys -= 1
            return _registrar_error(429, "RateLimited", "rate_limited", "Too many requests")
        body = json.loads(request.content)
        contact = body.get("contactInformation") or {}
        missing = [name for name in REQUIRED_CONTACT if not contact.get(name)]
        if missing or not isinstance(body.get("years"), int) or "autoRenew" not in body:
            return _registrar_error(
                400, "HttpApiDecodeError", "bad_request", f"Invalid body: {missing}"
            )
        if domain in self.taken:
            return _registrar_error(
                400, "DomainNotAvailable", "domain_not_available", f"{domain} is not available"
            )
        if Decimal(str(body.get("expectedPrice"))) != Decimal(str(self.price)):
            return _registrar_error(
                400, "ExpectedPriceMismatch", "expected_price_mismatch", "The price has changed"
            )
        self.taken.add(domain)
        self.purchases.append(body)
        order_id = f"ord_{secrets.token_hex(10)}"
        self.orders[order_id] = {
            "orderId": order_id,
            "domains": [
                {
                    "purchaseType": "purchase",
                    "autoRenew": body["autoRenew"],
                    "years": body["years"],
                    "domainName": domain,
                    "status": "purchasing",
                    "price": self.price,
                }
            ],
            "status": "purchasing",
        }
        links = {"order": {"href": f"/v1/registrar/orders/{order_id}", "method": "GET"}}
        return httpx.Response(200, json={"orderId": order_id, "links": links})

    def _order(self, order_id: str) -> httpx.Response:
        order = self.orders.get(order_id)
        if order is None:
            return _registrar_error(404, "NotFound", "not_found", "Order not found")
        self._looks[order_id] = looks = self._looks.get(order_id, 0) + 1
        if looks > self.purchasing_polls and order["status"] == "purchasing":
            final = "failed" if self.fail_registrations else "completed"
            order["status"] = final
            for domain in order["domains"]:
                domain["status"] = final
            if self.fail_registrations:
                order["error"] = {"code": "registry_error", "message": "The registry refused it"}
                self.taken.discard(order["domains"][0]["domainName"])
        return httpx.Response(200, json=order)

    def _unsupported(self, domain: str) -> httpx.Response | None:
        if domain.rsplit(".", 1)[-1] in self.unsupported_tlds:
            return _registrar_error(
                400, "TldNotSupported", "tld_not_supported", "TLD is not supported"
            )
        return None


def _decoded_files(files: Any) -> dict[str, bytes] | str:
    """The files of a deployment body, path → bytes; what is wrong with them as a sentence."""
    if not isinstance(files, list):
        return "`files` must be a list"
    decoded: dict[str, bytes] = {}
    for index, entry in enumerate(files):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            return f"`files[{index}].file` is missing"
        if entry.get("encoding") != "base64" or not isinstance(entry.get("data"), str):
            return f'`files[{index}]` must have base64 `data` and `encoding: "base64"`'
        try:
            decoded[entry["file"]] = base64.b64decode(entry["data"], validate=True)
        except binascii.Error:
            return f"`files[{index}].data` is not base64"
    return decoded


def _now_ms() -> int:
    return int(time.time() * 1000)


def _api_error(status: int, code: str, message: str, **more: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, **more}})


def _rate_limited(message: str) -> httpx.Response:
    reset = int(time.time()) + 60
    return httpx.Response(
        429,
        json={
            "error": {
                "code": "rate_limited",
                "message": message,
                "limit": {"remaining": 0, "reset": reset, "resetMs": reset * 1000, "total": 100},
            }
        },
        headers={
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        },
    )


def _registrar_error(status: int, tag: str, code: str, message: str) -> httpx.Response:
    return httpx.Response(
        status, json={"status": status, "code": code, "message": message, "_tag": tag}
    )
