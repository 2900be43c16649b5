"""Machines that report counts and states over MQTT, what they last said, and their count history."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Entity, Timestamp

MACHINE_PROTOCOLS = ("sparkplug", "json")
MACHINE_STATES = ("running", "stopped", "fault")


class Machine(Entity):
    """A machine's configuration (admin) and its live state (kept by the MQTT consumer).

    Counters are absolute and monotonic on the machine; `good_count`/`reject_count` hold the last
    values taken in (the baseline the next reading's delta is taken from), in the same transaction
    as the production they added, so a message delivered twice adds nothing the second time.
    """

    __tablename__ = "machines"
    __table_args__ = (Index("ix_machines_group_id_node_id_device_id", "group_id", "node_id", "device_id"),)

    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    line: Mapped[str] = mapped_column(ForeignKey("lines.code", ondelete="RESTRICT"), nullable=False,
                                      index=True)
    protocol: Mapped[str] = mapped_column(String(16), nullable=False)
    group_id: Mapped[str | None] = mapped_column(String(64))
    node_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(64))
    good_metric: Mapped[str | None] = mapped_column(String(120))
    reject_metric: Mapped[str | None] = mapped_column(String(120))
    total_metric: Mapped[str | None] = mapped_column(String(120))
    state_metric: Mapped[str | None] = mapped_column(String(120))
    fault_metric: Mapped[str | None] = mapped_column(String(120))
    fault_reasons: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    no_count_stop_seconds: Mapped[int | None] = mapped_column(Integer)
    micro_stop_seconds: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Live state, written by the consumer.
    online: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    state: Mapped[str | None] = mapped_column(String(16))
    fault_code: Mapped[str | None] = mapped_column(String(64))
    last_message_at: Mapped[datetime | None] = mapped_column(Timestamp)
    offline_since: Mapped[datetime | None] = mapped_column(Timestamp)
    last_count_at: Mapped[datetime | None] = mapped_column(Timestamp)
    good_count: Mapped[int | None] = mapped_column(BigInteger)
    reject_count: Mapped[int | None] = mapped_column(BigInteger)
    seq: Mapped[int | None] = mapped_column(Integer)


class MachineCount(Base):
    """What a machine counted on a line in one second (its readings then, summed): the trend
    chart's raw points."""

    __tablename__ = "machine_counts"
    __table_args__ = (Index("ix_machine_counts_line_at", "line", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), nullable=False,
                                            index=True)
    line: Mapped[str] = mapped_column(String(32), nullable=False)
    at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    good: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reject: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    micro_stops: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    micro_stop_seconds: Mapped[float] = mapped_column(Float, nullable=False, default=0)
