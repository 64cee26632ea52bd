"""Property tests: any values the CRF accepts (numbers at their reporting precision) survive
REDCap CSV and ODM XML round trips, any other number is exported rounded to it, and hostile XML
is not expanded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from export_samples import design
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialdesk.catalogue.precision import round_reported
from trialdesk.export.crf import DataType, Item, StudyDesign
from trialdesk.export.errors import ImportRejected
from trialdesk.export.odm.read import read_odm
from trialdesk.export.odm.write import odm_document, to_bytes
from trialdesk.export.records import ClinicalData, FormRecord
from trialdesk.export.redcap.records import read_records, write_records

DESIGN: StudyDesign = design()
TEXT = (
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40)
    .map(str.strip)
    .filter(bool)
)


def _float_value(item: Item) -> st.SearchStrategy[object]:
    low = item.hard_low if item.hard_low is not None else -1e6
    high = item.hard_high if item.hard_high is not None else 1e6
    return (
        st.floats(low, high, allow_nan=False, allow_infinity=False)
        .map(lambda x: round_reported(float(f"{x:.6g}"), item.decimals))
        .filter(lambda x: low <= x <= high)
    )


def _integer_value(item: Item) -> st.SearchStrategy[object]:
    low = item.hard_low if item.hard_low is not None else -1e6
    high = item.hard_high if item.hard_high is not None else 1e6
    return st.integers(int(low), int(high))


def _multichoice_value(item: Item) -> st.SearchStrategy[object]:
    codes = [c.code for c in item.choices]
    return st.lists(st.sampled_from(codes), min_size=1, unique=True).map(
        lambda chosen: tuple(c for c in codes if c in chosen)
    )


_VALUE_BY_TYPE: dict[DataType, Callable[[Item], st.SearchStrategy[object]]] = {
    DataType.FLOAT: _float_value,
    DataType.INTEGER: _integer_value,
    DataType.DATE: lambda _item: st.dates(date(1900, 1, 1), date(2100, 12, 31)),
    DataType.BOOLEAN: lambda _item: st.booleans(),
    DataType.CHOICE: lambda item: st.sampled_from([c.code for c in item.choices]),
    DataType.MULTICHOICE: _multichoice_value,
}


def _value(item: Item) -> st.SearchStrategy[object]:
    build = _VALUE_BY_TYPE.get(item.data_type)
    return build(item) if build is not None else TEXT


@st.composite
def form_records(draw: st.DrawFn) -> list[FormRecord]:
    records = []
    for subject in draw(
        st.lists(
            st.from_regex(r"[A-Z]{2}-[0-9]{3}", fullmatch=True), min_size=1, max_size=3, unique=True
        )
    ):
        for event in draw(
            st.lists(
                st.sampled_from(DESIGN.events), min_size=1, max_size=3, unique_by=lambda e: e.code
            )
        ):
            form = DESIGN.form(draw(st.sampled_from(event.forms)))
            items = draw(
                st.lists(
                    st.sampled_from(form.items), min_size=1, max_size=5, unique_by=lambda i: i.name
                )
            )
            values = {i.name: draw(_value(i)) for i in items}
            records.append(FormRecord(subject, event.code, form.name, values))
    return records


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(form_records())
def test_redcap_records_round_trip_any_valid_values(records: list[FormRecord]) -> None:
    back = read_records(DESIGN, write_records(DESIGN, records))
    assert sorted(back, key=lambda r: r.key) == sorted(records, key=lambda r: r.key)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(form_records())
def test_odm_round_trips_any_valid_values(records: list[FormRecord]) -> None:
    data = ClinicalData(DESIGN, tuple(records))
    created = datetime(2026, 1, 1, tzinfo=UTC)
    first = to_bytes(odm_document(DESIGN, data, created=created))
    back = read_odm(first).data
    assert back is not None
    assert sorted(back.records, key=lambda r: r.key) == sorted(records, key=lambda r: r.key)
    assert to_bytes(odm_document(back.design, back, created=created)) == first


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(20, 350, allow_nan=False))
def test_a_number_beyond_its_precision_is_exported_rounded(weight: float) -> None:
    record = FormRecord("AA-001", "BL", "vital_signs", {"weight": weight})
    (back,) = read_records(DESIGN, write_records(DESIGN, [record]))
    assert DESIGN.item("weight").decimals == 1  # kg, as the catalogue reports it
    assert back.values["weight"] == round_reported(weight, 1)
    data = ClinicalData(DESIGN, (record,))
    (from_odm,) = read_odm(to_bytes(odm_document(DESIGN, data))).data.records  # type: ignore[union-attr]
    assert from_odm.values["weight"] == round_reported(weight, 1)


def test_external_entities_are_not_expanded(tmp_path: object) -> None:
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE ODM [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileType="Snapshot" FileOID="f" '
        b'CreationDateTime="2026-01-01T00:00:00"><Study OID="S"><GlobalVariables>'
        b"<StudyName>&x;</StudyName><StudyDescription>d</StudyDescription>"
        b"<ProtocolName>p</ProtocolName></GlobalVariables></Study></ODM>"
    )
    with pytest.raises(ImportRejected) as caught:
        read_odm(hostile)
    assert "root:" not in str(caught.value)
    assert caught.value.problems[0].field == "DOCTYPE"
