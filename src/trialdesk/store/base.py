"""Declarative base, naming convention and the columns every clinical row carries.

Clinical rows are never deleted or overwritten without trace:

* `version` is an optimistic lock (SQLAlchemy `version_id_col`): an UPDATE is issued as
  ``... WHERE id = :id AND version = :seen`` and raises `StaleDataError` when another writer got
  there first, so a stale write changes nothing;
* `voided` / `void_reason` replace DELETE (21 CFR 11.10(e): changes must not obscure previously
  recorded information);
* `created_*` / `updated_*` are conveniences; the authoritative history is the audit trail.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Enum, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from trialdesk.store.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def enum_type(cls: type[enum.Enum], name: str) -> Enum:
    """A portable enum column: VARCHAR + CHECK constraint holding the enum *values*."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=40,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ClinicalRecord(Timestamped):
    """Columns shared by every clinical table: optimistic lock, void instead of delete."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    voided: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    void_reason: Mapped[str | None] = mapped_column(Text, default=None)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @declared_attr
    def created_by(cls) -> Mapped[int | None]:  # declared_attr receives the class
        return mapped_column(ForeignKey("users.id"), default=None)

    @declared_attr
    def updated_by(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.id"), default=None)

    @declared_attr
    def voided_by(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.id"), default=None)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


AUDITED_EXCLUDE = frozenset({"created_at", "updated_at", "updated_by", "voided_at", "voided_by"})
"""Bookkeeping columns left out of audit diffs (the audit row itself says who and when)."""

SHORT = String(200)
"""Length of short free-text columns (names, terms, product names)."""
