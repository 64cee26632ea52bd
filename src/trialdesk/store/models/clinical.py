"""Visits per the schedule of assessments and the data recorded at them: measurements, ITT
glucose series, glucose-lowering drug dosing and the cell transplantation."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trialdesk.store.base import SHORT, Base, ClinicalRecord, enum_type
from trialdesk.store.enums import CellSource, Route, VisitStatus


class Visit(ClinicalRecord, Base):
    """A visit of the protocol's schedule (`code` as in the protocol, e.g. ``M3``), or an
    unscheduled visit (`unscheduled`, code ``M3.U01``: see `trialdesk.protocol.unscheduled`)."""

    __tablename__ = "visits"
    # At most one live (non-voided) visit per participant and visit code, even under races.
    __table_args__ = (
        Index(
            "uq_visits_live_participant_code",
            "participant_id",
            "code",
            unique=True,
            sqlite_where=text("NOT voided"),
            postgresql_where=text("NOT voided"),
        ),
    )

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    status: Mapped[VisitStatus] = mapped_column(enum_type(VisitStatus, "visit_status"))
    visit_date: Mapped[date | None] = mapped_column(Date, default=None)  # None when missed
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    # The protocol version in force on the visit date (`ProtocolVersion.label`).
    protocol_version: Mapped[str | None] = mapped_column(String(20), default=None)
    unscheduled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    unscheduled_reason: Mapped[str | None] = mapped_column(Text, default=None)


class Measurement(ClinicalRecord, Base):
    """A value of a catalogue data element at a visit, as entered and in canonical units.

    `value_as_entered`/`unit_as_entered` are what the site wrote (SDTM --ORRES/--ORRESU);
    `value`/`unit` the canonical numeric value (--STRESN/--STRESU); `text_value` holds categorical
    results (e.g. a negative pregnancy test). A field with no value carries a missing-data code
    (`missing_code`, `trialdesk.catalogue.missing`) and the site's reason instead: then
    `value_as_entered` is empty and `value`/`unit`/`text_value` are None.
    """

    __tablename__ = "measurements"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    element: Mapped[str] = mapped_column(String(64))
    value_as_entered: Mapped[str] = mapped_column(String(64))
    unit_as_entered: Mapped[str | None] = mapped_column(String(32), default=None)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    unit: Mapped[str | None] = mapped_column(String(32), default=None)
    text_value: Mapped[str | None] = mapped_column(String(64), default=None)
    loinc: Mapped[str | None] = mapped_column(String(20), default=None)
    collected_on: Mapped[date] = mapped_column(Date)
    missing_code: Mapped[str | None] = mapped_column(String(8), default=None)
    missing_reason: Mapped[str | None] = mapped_column(Text, default=None)


class IttTest(ClinicalRecord, Base):
    """An intravenous short insulin tolerance test: bolus dose and the timed glucose samples."""

    __tablename__ = "itt_tests"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    performed_on: Mapped[date] = mapped_column(Date)
    insulin_dose_u_per_kg: Mapped[float | None] = mapped_column(Float, default=None)
    glucose_unit_as_entered: Mapped[str] = mapped_column(String(32))

    samples: Mapped[list[IttSample]] = relationship(
        order_by="IttSample.minute", lazy="selectin", back_populates="test"
    )


class IttSample(ClinicalRecord, Base):
    __tablename__ = "itt_samples"

    itt_test_id: Mapped[int] = mapped_column(ForeignKey("itt_tests.id"), index=True)
    minute: Mapped[float] = mapped_column(Float)
    # Empty when the sample was not taken: then its missing-data code and the site's reason.
    glucose_as_entered: Mapped[float | None] = mapped_column(Float)
    glucose_mmol_l: Mapped[float | None] = mapped_column(Float)
    missing_code: Mapped[str | None] = mapped_column(String(8), default=None)
    missing_reason: Mapped[str | None] = mapped_column(Text, default=None)

    test: Mapped[IttTest] = relationship(back_populates="samples")


class InsulinDose(ClinicalRecord, Base):
    """Exogenous insulin: total daily units (basal + bolus) from a date, optionally split."""

    __tablename__ = "insulin_doses"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), default=None)
    start_date: Mapped[date] = mapped_column(Date)
    total_units_per_day: Mapped[float] = mapped_column(Float)
    basal_units_per_day: Mapped[float | None] = mapped_column(Float, default=None)
    bolus_units_per_day: Mapped[float | None] = mapped_column(Float, default=None)
    regimen: Mapped[str | None] = mapped_column(SHORT, default=None)


class OgldDose(ClinicalRecord, Base):
    """An oral glucose-lowering drug and its daily dose; `ddd` = dose / WHO defined daily dose."""

    __tablename__ = "ogld_doses"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), default=None)
    start_date: Mapped[date] = mapped_column(Date)
    drug: Mapped[str] = mapped_column(String(100))
    daily_dose_mg: Mapped[float] = mapped_column(Float)
    ddd_mg: Mapped[float] = mapped_column(Float)  # the WHO DDD used, so `ddd` can be re-checked
    ddd: Mapped[float] = mapped_column(Float)


class Transplantation(ClinicalRecord, Base):
    """The cell product given: product, lot, cell source, dose (cells/kg), route, date, operator."""

    __tablename__ = "transplantations"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), default=None)
    performed_on: Mapped[date] = mapped_column(Date)
    product: Mapped[str] = mapped_column(SHORT)
    lot_number: Mapped[str] = mapped_column(String(64))
    cell_source: Mapped[CellSource] = mapped_column(enum_type(CellSource, "cell_source"))
    dose_cells_per_kg: Mapped[float] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float, default=None)
    total_cells: Mapped[float | None] = mapped_column(Float, default=None)
    route: Mapped[Route] = mapped_column(enum_type(Route, "route"))
    operator: Mapped[str] = mapped_column(SHORT)
    notes: Mapped[str | None] = mapped_column(Text, default=None)
