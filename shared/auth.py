"""Who may call a service's HTTP API: bearer JWTs from the marketplace's identity provider.

Keys (DESIGN, "HTTP APIs: who may call them"): `AUTH_JWT_SECRET` (HS256, local development and
tests) or `AUTH_JWKS_FILE` (RS256/ES256, production). The algorithm a token names must match a
key we hold for it, so `alg: none` and algorithm confusion (an RSA public key used as an HMAC
secret) are refused. Claims used: `sub` (the person), `role`, `exp`; `nbf` and `aud` (when
`AUTH_AUDIENCE` is set) are checked too.

Every API route is declared with the roles that may call it (`api_route`); inside it, the
endpoint checks the person (`caller(request)`, `refuse(...)`).
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, get_args

import jwt
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Role = Literal["freelancer", "client", "support", "operator"]
ROLES: tuple[Role, ...] = get_args(Role)
HMAC_ALGORITHMS = ("HS256",)
KEY_PAIR_ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 5  # clocks of the identity provider and ours may differ a little
MAX_TOKEN_CHARS = 8192

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Caller:
    """The person behind a verified token."""

    subject: str
    role: Role

    def is_(self, role: Role, subject: str | None = None) -> bool:
        return self.role == role and (subject is None or self.subject == subject)


class Refused(HTTPException):
    """An answer of 401, 403 or 404 with a short JSON body: `{"error": code, "detail": ...}`."""

    def __init__(self, status_code: int, code: str, detail: str) -> None:
        headers = {"WWW-Authenticate": "Bearer"} if status_code == 401 else None
        super().__init__(status_code, detail, headers)
        self.code = code


def unauthenticated(detail: str) -> Refused:
    return Refused(401, "unauthenticated", detail)


def refuse(status_code: Literal[403, 404] = 403, detail: str = "not yours to see or change") -> Refused:
    """Raise it when a valid caller is the wrong person: 403, or 404 where existence itself is private."""
    return Refused(status_code, "forbidden" if status_code == 403 else "not_found", detail)


class TokenVerifier:
    def __init__(
        self, *, secret: str | None = None, jwks: jwt.PyJWKSet | None = None, audience: str | None = None
    ) -> None:
        if not secret and jwks is None:
            raise ValueError("a token verifier needs AUTH_JWT_SECRET or AUTH_JWKS_FILE")
        self._secret = secret
        self._jwks = jwks
        self._audience = audience

    @classmethod
    def from_files(cls, *, secret: str | None, jwks_file: Path | None, audience: str | None) -> "TokenVerifier":
        jwks = jwt.PyJWKSet.from_json(jwks_file.read_text()) if jwks_file else None
        return cls(secret=secret, jwks=jwks, audience=audience)

    def verify(self, token: str) -> Caller:
        """The caller a token proves, or `Refused(401)` saying why not (never echoing the token)."""
        if len(token) > MAX_TOKEN_CHARS:
            raise unauthenticated("token too long")
        try:
            header = jwt.get_unverified_header(token)
            key, algorithm = self._key_for(header)
            claims = jwt.decode(
                token, key, algorithms=[algorithm], audience=self._audience, leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise unauthenticated("token expired") from None
        except jwt.ImmatureSignatureError:
            raise unauthenticated("token not valid yet") from None
        except jwt.InvalidAudienceError:
            raise unauthenticated("token is for another audience") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise unauthenticated("invalid token") from None
        return _caller(claims)

    def _key_for(self, header: dict) -> tuple[object, str]:
        algorithm = header.get("alg")
        if algorithm in HMAC_ALGORITHMS and self._secret:
            return self._secret, algorithm
        if algorithm in KEY_PAIR_ALGORITHMS and self._jwks is not None:
            key = _matching_key(self._jwks, header.get("kid"), algorithm)
            if key is not None:
                return key.key, algorithm
        raise jwt.InvalidAlgorithmError(f"no key for algorithm {algorithm!r}")


def _matching_key(jwks: jwt.PyJWKSet, kid: object, algorithm: str) -> jwt.PyJWK | None:
    """The JWKS key named by `kid` (or the only one), if its type is the one `algorithm` needs."""
    candidates = [key for key in jwks.keys if key.key_id == kid] if kid is not None else list(jwks.keys)
    if len(candidates) != 1:
        return None
    key = candidates[0]
    wanted_type = "RSA" if algorithm.startswith("RS") else "EC"
    declared = key._jwk_data.get("alg")  # noqa: SLF001 - PyJWK keeps the JWK's own `alg` only there
    if key.key_type != wanted_type or (declared is not None and declared != algorithm):
        return None
    return key


def _caller(claims: dict) -> Caller:
    subject, role = claims.get("sub"), claims.get("role")
    if not isinstance(subject, str) or not 1 <= len(subject) <= 200:
        raise unauthenticated("token has no usable sub")
    if role not in ROLES:
        raise unauthenticated(f"token role must be one of {', '.join(ROLES)}")
    return Caller(subject, role)


def mint(
    secret: str, subject: str, role: Role, *, ttl: timedelta = timedelta(hours=8),
    audience: str | None = None, now: datetime | None = None,
) -> str:
    """A development token (HS256), as the identity provider would issue one."""
    issued = now or datetime.now(UTC)
    claims: dict[str, object] = {"sub": subject, "role": role, "iat": issued, "exp": issued + ttl}
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


class ApiRoute(Route):
    """A route of a service's API: no answer before the token is verified and the role allowed."""

    def __init__(self, path: str, endpoint: Endpoint, *, allow: Iterable[Role], methods: Iterable[str] = ("GET",)) -> None:
        self.roles = frozenset(allow)
        unknown = self.roles - set(ROLES)
        if not self.roles or unknown:
            raise ValueError(f"{path}: say which roles may call it (unknown: {sorted(unknown)})")
        super().__init__(path, _guarded(endpoint, self.roles), methods=list(methods))


def _guarded(endpoint: Endpoint, roles: frozenset[Role]) -> Endpoint:
    async def guarded(request: Request) -> Response:
        verifier: TokenVerifier = request.app.state.token_verifier
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated("send Authorization: Bearer <token>")
        request.state.caller = who = verifier.verify(token.strip())
        if who.role not in roles:
            raise refuse(403, f"role {who.role} may not call this")
        return await endpoint(request)

    guarded.__name__ = getattr(endpoint, "__name__", "endpoint")
    guarded.__doc__ = endpoint.__doc__
    return guarded


def caller(request: Request) -> Caller:
    """The verified caller of an `ApiRoute` endpoint."""
    return request.state.caller

