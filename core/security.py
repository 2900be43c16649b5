"""Password hashing (scrypt; Werkzeug's formats verified for imported users) and JWTs, HS256 only."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"
# Ids in tokens are database keys: a positive decimal that fits a signed 64-bit column.
MAX_ID = 2**63 - 1
_DECIMAL_ID = re.compile(r"[1-9][0-9]{0,18}")
ROLE_RANK = {"user": 1, "admin": 2, "super_admin": 3}
# scrypt cost: ~50 ms on this class of machine, 16 MiB of memory per hash.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a verified token and the user's current state."""

    user_id: int
    username: str
    role: str
    session_id: int
    kind: str  # "login", "display" or "station"
    lines: frozenset[str] | None = None  # a station token's lines

    @property
    def caller(self) -> str:
        """Whose rate budget a request spends: a person's own, or each screen's and tablet's own
        (they act for the admin who minted them, but a hall of them must not share one budget)."""
        return f"user:{self.user_id}" if self.kind == "login" else f"{self.kind}:{self.session_id}"

    def key_namespace(self, key: str) -> str:
        """An Idempotency-Key as stored: a person's as sent; a tablet's under its token, so two
        tablets (or a tablet and the admin who minted it) never meet on one key. Hashed to keep
        within the 255 characters a key may have."""
        if self.kind == "login":
            return key
        return f"{self.kind}:{self.session_id}:{hashlib.sha256(key.encode()).hexdigest()}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
                            maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith(WERKZEUG_PREFIXES):
        return verify_werkzeug(password, stored)
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), maxmem=64 * 1024 * 1024, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Hashes carried over from the Flask system (Werkzeug's format); replaced at the first sign-in.
WERKZEUG_PREFIXES = ("pbkdf2:", "scrypt:")
_PBKDF2_HASHES = ("sha1", "sha224", "sha256", "sha384", "sha512")
_MAX_PBKDF2_ITERATIONS = 5_000_000
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024


def needs_rehash(stored: str) -> bool:
    """True for a hash in a format this service no longer writes."""
    return stored.startswith(WERKZEUG_PREFIXES)


def verify_werkzeug(password: str, stored: str) -> bool:
    """Werkzeug's `pbkdf2:<hash>:<iterations>$<salt>$<hex>` or `scrypt:<n>:<r>:<p>$<salt>$<hex>`.

    As Werkzeug computes them: the salt is used as text (its UTF-8 bytes), the digest is hex;
    scrypt with Python's default 64-byte key. Costs are bounded so a crafted row can't stall us.
    """
    try:
        method, salt, expected = stored.split("$", 2)
        name, *args = method.split(":")
        if name == "pbkdf2":
            hash_name, iterations = args[0], int(args[1]) if len(args) > 1 else 600_000
            if hash_name not in _PBKDF2_HASHES or not 1 <= iterations <= _MAX_PBKDF2_ITERATIONS:
                return False
            actual = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt.encode(), iterations).hex()
        elif name == "scrypt":
            n, r, p = (int(arg) for arg in args) if args else (2**15, 8, 1)
            memory = 132 * n * r * p
            if memory > _MAX_SCRYPT_MEMORY:
                return False
            actual = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p,
                                    maxmem=memory, dklen=len(expected) // 2).hex()
        else:
            return False
    except (ValueError, TypeError, IndexError):
        return False
    return hmac.compare_digest(actual, expected.lower())


# Verifying against this costs what a real check costs, so unknown users take as long as known.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def normalize_username(name: str) -> str:
    """The one form of a username for storage, uniqueness, lookup and rate-limit keys.

    NFKC folds width and compatibility forms ("ａｄｍｉｎ" is "admin"), casefold folds case, strip
    drops the blanks MariaDB's collations ignore; an accented name stays a different name.
    """
    return unicodedata.normalize("NFKC", name).casefold().strip()


def role_at_least(role: str | None, required: str) -> bool:
    return ROLE_RANK.get(role or "", 0) >= ROLE_RANK[required]


class TokenError(Exception):
    """The token is missing, malformed, expired, revoked or of the wrong kind."""


@dataclass(frozen=True)
class TokenService:
    secret: str
    issuer: str
    audience: str
    access_ttl: int
    refresh_ttl: int

    def issue(self, *, typ: str, user_id: int, role: str, session_id: int, version: int,
              ttl: int, session_key: str | None = None, jti: str | None = None) -> tuple[str, str]:
        """Sign a token; returns (token, jti). `session_key` is the session's random secret."""
        now = int(time.time())
        jti = jti or uuid.uuid4().hex
        claims = {
            "sub": str(user_id), "role": role, "iat": now, "nbf": now, "exp": now + ttl,
            "iss": self.issuer, "aud": self.audience, "jti": jti, "typ": typ,
            "sid": session_id, "ver": version,
        }
        if session_key is not None:
            claims["sk"] = session_key
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM), jti

    def decode(self, token: str, *, typ: str | tuple[str, ...]) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=[ALGORITHM], audience=self.audience,
                issuer=self.issuer,
                options={"require": ["sub", "role", "iat", "exp", "iss", "aud", "jti", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.PyJWTError:
            raise TokenError("invalid token") from None
        allowed = (typ,) if isinstance(typ, str) else typ
        if claims.get("typ") not in allowed:
            raise TokenError("wrong kind of token")
        sub, sid, ver, key = claims.get("sub"), claims.get("sid"), claims.get("ver"), claims.get("sk")
        # A signed but odd claim (a name for `sub`, an id past the column) is a bad token, not a 500.
        if (not isinstance(sub, str) or not _DECIMAL_ID.fullmatch(sub) or int(sub) > MAX_ID
                or not _is_id(sid) or not _is_id(ver, minimum=0)
                or (key is not None and not isinstance(key, str))):
            raise TokenError("invalid token")
        return claims


def _is_id(value: Any, minimum: int = 1) -> bool:
    return type(value) is int and minimum <= value <= MAX_ID


def new_session_key() -> tuple[str, str]:
    """A random per-session secret for the token, and the digest the database keeps of it."""
    key = secrets.token_urlsafe(24)
    return key, session_key_digest(key)


def session_key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def session_key_matches(key: Any, digest: str | None) -> bool:
    """True when the token's session key fits the session (sessions made before keys take none)."""
    if digest is None:
        return key is None
    return isinstance(key, str) and hmac.compare_digest(session_key_digest(key), digest)
