"""People who sign in, and the sessions (login or wall-display) they hold."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Entity, Timestamp

ROLES = ("user", "admin", "super_admin")


class User(Entity):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('user', 'admin', 'super_admin')", name="role"),)

    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="user")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Bumped on password, role or activation change: outstanding tokens stop working.
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class AuthSession(Entity):
    """A login (refresh-token family), a display or a station token; revoking it ends its tokens."""

    __tablename__ = "auth_sessions"
    __table_args__ = (CheckConstraint("kind IN ('login', 'display', 'station')", name="kind"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="login")
    label: Mapped[str | None] = mapped_column(String(120))
    refresh_jti: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 of the random secret every token of this session carries: ids alone never suffice.
    key_digest: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Who revoked it (display tokens: any admin may); who minted it is `user_id`.
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Station tokens: the comma-separated codes of the lines the station records for.
    lines: Mapped[str | None] = mapped_column(String(400))
