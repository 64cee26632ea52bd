"""SourceFrames: the contract of docs/architecture.md, enforced with errors naming the column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trialdesk.analysis import FRAME_COLUMNS, SourceFrameError, SourceFrames, empty_frame
from trialdesk.analysis.frames_io import read_frames, write_frames


def _with(frames: SourceFrames, name: str, data: pd.DataFrame) -> SourceFrames:
    parts = frames.as_dict()
    parts[name] = data
    return SourceFrames(**parts)


def test_frames_have_exactly_the_contract_columns(frames: SourceFrames) -> None:
    for name, frame in frames.as_dict().items():
        assert list(frame.columns) == [c.name for c in FRAME_COLUMNS[name]]
    assert str(frames.measurements["date"].dtype).startswith("datetime64")
    assert frames.screening["failed"].iloc[1] == ["I4", "E2"]
    assert frames.screening["usubjid"].iloc[0] is None
    assert frames.adverse_events["grade"].dtype.name == "Int64"


def test_columns_may_come_in_any_order(frames: SourceFrames) -> None:
    reordered = frames.subjects[list(reversed(frames.subjects.columns))]
    rebuilt = _with(frames, "subjects", reordered)
    assert list(rebuilt.subjects.columns)[0] == "usubjid"


def test_missing_column_is_named(frames: SourceFrames) -> None:
    with pytest.raises(SourceFrameError) as err:
        _with(frames, "dosing", frames.dosing.drop(columns="weight_kg"))
    assert err.value.frame == "dosing" and err.value.column == "weight_kg"
    assert "dosing.weight_kg" in str(err.value)


def test_extra_column_is_rejected(frames: SourceFrames) -> None:
    with pytest.raises(SourceFrameError, match=r"itt\.comment: expected only the columns"):
        _with(frames, "itt", frames.itt.assign(comment="x"))


@pytest.mark.parametrize(
    ("frame", "column", "value", "message"),
    [
        ("subjects", "status", "lost", "one of ongoing, completed, withdrawn, died"),
        ("subjects", "sex", "female", "one of F, M"),
        ("screening", "screened_on", "31/12/2024", "a date"),
        ("dosing", "weight_kg", -3.0, "between 20 and 350"),
        ("dosing", "insulin_u_per_day", "forty", "a finite number"),
        ("adverse_events", "grade", 6, "between 1 and 5"),
        ("adverse_events", "grade", 2.5, "a whole number"),
        ("adverse_events", "serious", "yes", "True or False"),
        ("adverse_events", "seriousness", "death", "a list of text codes"),
        ("itt", "glucose_mmol_l", float("inf"), "a finite number"),
        ("measurements", "value", None, "a value in every row"),
    ],
)
def test_bad_values_are_named(
    frames: SourceFrames, frame: str, column: str, value: object, message: str
) -> None:
    data = getattr(frames, frame).copy()
    data[column] = data[column].astype(object)
    data.loc[0, column] = value
    with pytest.raises(SourceFrameError) as err:
        _with(frames, frame, data)
    assert err.value.frame == frame and err.value.column == column
    assert message in str(err.value)


def test_unknown_participant_is_rejected(frames: SourceFrames) -> None:
    data = frames.measurements.copy()
    data.loc[3, "usubjid"] = "S99"
    with pytest.raises(SourceFrameError, match=r"measurements\.usubjid.*'S99'"):
        _with(frames, "measurements", data)


def test_duplicate_participant_is_rejected(frames: SourceFrames) -> None:
    doubled = pd.concat([frames.subjects, frames.subjects.iloc[[0]]], ignore_index=True)
    with pytest.raises(SourceFrameError, match="one row per participant"):
        _with(frames, "subjects", doubled)


def test_enrolled_flag_must_match_usubjid(frames: SourceFrames) -> None:
    data = frames.screening.copy()
    data.loc[0, "enrolled"] = True
    with pytest.raises(SourceFrameError, match="usubjid exactly when enrolled"):
        _with(frames, "screening", data)


def test_measurements_must_be_in_canonical_units(frames: SourceFrames) -> None:
    data = frames.measurements.copy()
    row = data.index[data["element"] == "hba1c"][0]
    data.loc[row, "unit"] = "mmol/mol"
    with pytest.raises(SourceFrameError, match=r"canonical unit '%' for hba1c"):
        _with(frames, "measurements", data)


def test_micro_sign_and_greek_mu_are_the_same_unit(frames: SourceFrames) -> None:
    data = frames.measurements.copy()
    insulin = data["element"] == "fasting_insulin"
    data.loc[insulin, "unit"] = "\u03bcIU/mL"  # Greek small letter mu
    assert len(_with(frames, "measurements", data).measurements) == len(data)


def test_from_mapping_takes_absent_frames_as_empty(frames: SourceFrames) -> None:
    built = SourceFrames.from_mapping({"subjects": frames.subjects})
    assert built.adverse_events.empty and len(built.subjects) == len(frames.subjects)
    with pytest.raises(SourceFrameError, match="labs"):
        SourceFrames.from_mapping({"labs": frames.subjects})


def test_empty_frames_are_valid() -> None:
    built = SourceFrames(**{name: empty_frame(name) for name in FRAME_COLUMNS})
    assert all(frame.empty for frame in built.as_dict().values())


def test_source_frames_are_copies(frames: SourceFrames) -> None:
    original = frames.subjects.copy()
    rebuilt = _with(frames, "subjects", original)
    original.loc[0, "site"] = "CHANGED"
    assert rebuilt.subjects.loc[0, "site"] == "APGH"


def test_parquet_round_trip(frames: SourceFrames, tmp_path: Path) -> None:
    write_frames(frames, tmp_path)
    again = read_frames(tmp_path)
    for name, frame in frames.as_dict().items():
        pd.testing.assert_frame_equal(
            getattr(again, name).astype(str), frame.astype(str), check_dtype=False
        )


def test_read_frames_rejects_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceFrameError, match="at least one"):
        read_frames(tmp_path)
    with pytest.raises(SourceFrameError, match="a folder"):
        read_frames(tmp_path / "missing")
