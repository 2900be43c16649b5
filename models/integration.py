"""Integrations: remembered Idempotency-Key answers, the event outbox, webhook endpoints and attempts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Entity, Timestamp, utcnow

LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
# Compared byte for byte: MariaDB's default collation calls "abc" and "ABC " the same key.
# (SQLite compares bytes already.)
BinaryKey = String(255).with_variant(mysql.VARCHAR(255, charset="utf8mb4", collation="utf8mb4_bin"),
                                     "mysql", "mariadb")


class IdempotencyKey(Entity):
    """One user's Idempotency-Key: claimed, then applied with its change, then its answer kept."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "idempotency_key"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(BinaryKey, nullable=False)
    # sha256 of method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    # pending (claimed, nothing committed) → applied (its change committed) → done (answer kept)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    owner: Mapped[str] = mapped_column(String(32), nullable=False)
    claimed_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, index=True)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[str | None] = mapped_column(Text)
    # base64 of the exact bytes (aiomysql cannot send bytes parameters with current PyMySQL)
    response_body: Mapped[str | None] = mapped_column(LongText)


class OutboxEvent(Base):
    """Every committed event, written in the transaction that caused it; webhooks deliver from here."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, index=True)
    data: Mapped[str] = mapped_column(LongText, nullable=False)


class OutboxRelay(Base):
    """An outbox event written by a command (`server.py import`), which has no live feed of its
    own: a running server claims the row (deletes it) and publishes the event to its subscribers."""

    __tablename__ = "outbox_relay"

    outbox_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class Webhook(Entity):
    """An endpoint that receives events of its topics, in id order, after its last_event_id."""

    __tablename__ = "webhooks"

    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    topics: Mapped[str] = mapped_column(String(255), nullable=False)  # comma-separated
    description: Mapped[str | None] = mapped_column(String(255))
    secret: Mapped[str] = mapped_column(String(128), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # healthy, retrying (the event after last_event_id failed) or failing (gave up; needs re-enabling)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="healthy")
    last_event_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # last delivered event id
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # failures of that event
    first_failure_at: Mapped[datetime | None] = mapped_column(Timestamp)
    next_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Why the server switched it off (a 410 from the receiver, the retry window ran out); None otherwise.
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    # A delivery worker holds the endpoint until lease_until: one process delivers it at a time.
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(Timestamp)


class WebhookDelivery(Base):
    """One attempt to deliver one event (or a ping) to one endpoint."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False)
    event_id: Mapped[int | None] = mapped_column(Integer)  # None for a ping
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # delivered | failed
    response_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(255))
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    attempted_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    next_retry_at: Mapped[datetime | None] = mapped_column(Timestamp)
