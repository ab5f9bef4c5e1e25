"""A JWT issuer's signing keys and its JWKS endpoint, served at the HTTP boundary.

The endpoint answers like Supabase's `/auth/v1/.well-known/jwks.json`: a JSON `{"keys": [...]}`
of public JWKs with `kid`, `alg`, `use` and `key_ops`. Tests rotate keys, take the endpoint
down and count requests. Async clients only (the handler awaits, like a network would).
"""

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWKS_URL = "https://project.supabase.test/auth/v1/.well-known/jwks.json"

Failure = Literal["unreachable", "server_error", "not_json"]


@dataclass(frozen=True)
class SigningKey:
    """An asymmetric key pair the issuer signs tokens with; its public half goes in the JWKS."""

    kid: str
    alg: Literal["ES256", "RS256"]
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str, alg: Literal["ES256", "RS256"]) -> "SigningKey":
        if alg == "ES256":
            return cls(kid, alg, ec.generate_private_key(ec.SECP256R1()))
        return cls(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @property
    def jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        fields = (
            ECAlgorithm.to_jwk(public, as_dict=True)
            if isinstance(public, ec.EllipticCurvePublicKey)
            else RSAAlgorithm.to_jwk(public, as_dict=True)
        )
        return {**fields, "kid": self.kid, "alg": self.alg, "use": "sig", "key_ops": ["verify"]}

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        """A token signed by this key, naming `kid` (this key's own by default)."""
        return jwt.encode(claims, self.private_key, self.alg, headers={"kid": kid or self.kid})


@dataclass
class FakeJwksEndpoint:
    """The issuer's JWKS endpoint: publishes `keys`, or fails the way `failure` says."""

    keys: list[SigningKey]
    failure: Failure | None = None
    requests: int = field(default=0, init=False)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # a network round trip, so concurrent requests overlap
        if request.method != "GET" or str(request.url) != JWKS_URL:
            return httpx.Response(404, json={"message": "not found"})
        self.requests += 1
        if self.failure == "unreachable":
            raise httpx.ConnectError("connection refused", request=request)
        if self.failure == "server_error":
            return httpx.Response(502, text="Bad Gateway")
        if self.failure == "not_json":
            return httpx.Response(200, text="<html>maintenance</html>")
        return httpx.Response(
            200,
            json={"keys": [key.jwk for key in self.keys]},
            headers={"cache-control": "public, max-age=600"},
        )
