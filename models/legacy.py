"""Which row of the Flask system's database each imported row came from."""
from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class LegacyId(Base):
    """`(source_table, legacy_id)` → `new_id`: a re-run of import-legacy skips what it finds here."""

    __tablename__ = "legacy_ids"

    source_table: Mapped[str] = mapped_column(String(32), primary_key=True)
    legacy_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    new_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
