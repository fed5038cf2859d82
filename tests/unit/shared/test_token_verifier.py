"""The token verifier on its own: ES256 from a JWKS, keys used only for their own algorithm, nbf."""

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.auth import Caller, Refused, TokenVerifier

def claims(**extra: object) -> dict:
    now = datetime.now(UTC)  # at signing: a suite runs for minutes, tokens for five
    return {"sub": "client-1", "role": "client", "iat": now, "exp": now + timedelta(minutes=5), **extra}


@pytest.fixture
def keys():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = {"keys": [
        json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key())) | {"kid": "ec-1", "alg": "ES256"},
        json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())) | {"kid": "rsa-1", "alg": "RS256"},
    ]}
    return ec_key, rsa_key, TokenVerifier(jwks=jwt.PyJWKSet.from_dict(jwks))


def test_an_es256_token_names_its_caller(keys):
    ec_key, _, verifier = keys
    token = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert verifier.verify(token) == Caller("client-1", "client")


@pytest.mark.parametrize(("algorithm", "kid", "which"), [
    ("ES256", "rsa-1", "ec"),   # the header names an RSA key for an EC signature
    ("RS256", "ec-1", "rsa"),   # the header names an EC key for an RSA signature
    ("RS256", None, "rsa"),     # two keys and no kid: which one is not for the token to guess
])
def test_a_key_is_used_only_for_its_own_algorithm(keys, algorithm, kid, which):
    ec_key, rsa_key, verifier = keys
    headers = {"kid": kid} if kid else {}
    token = jwt.encode(claims(), ec_key if which == "ec" else rsa_key, algorithm=algorithm, headers=headers)
    with pytest.raises(Refused) as refused:
        verifier.verify(token)
    assert refused.value.status_code == 401


def test_a_token_not_valid_yet_is_refused():
    verifier = TokenVerifier(secret="s" * 32)
    with pytest.raises(Refused, match="not valid yet"):
        verifier.verify(jwt.encode(claims(nbf=datetime.now(UTC) + timedelta(minutes=5)), "s" * 32, algorithm="HS256"))
