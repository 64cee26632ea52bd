"""Coded-missing values are counted, never analysed; values at unscheduled visits are listed,
never summarised by visit (issue #13)."""

from __future__ import annotations

import pandas as pd

from trialdesk.analysis.datasets import derive_datasets
from trialdesk.analysis.registry import build_results_json
from trialdesk.analysis.results import analyse
from trialdesk.analysis.sources import SourceFrames
from trialdesk.analysis.tables import all_tables
from trialdesk.protocol import Protocol


def _with_missing_hba1c(frames: SourceFrames, codes: list[str], visit: str) -> SourceFrames:
    """The frames with the HbA1c of the first participants at `visit` recorded as missing."""
    m = frames.measurements
    at = m[(m["element"] == "hba1c") & (m["visit"] == visit)].head(len(codes))
    missing = pd.DataFrame(
        {
            "usubjid": at["usubjid"].to_list(),
            "visit": visit,
            "visit_day": at["visit_day"].to_list(),
            "date": at["date"].to_list(),
            "element": "hba1c",
            "code": codes,
            "reason": "sample not taken",
        }
    )
    return SourceFrames(
        **{**frames.as_dict(), "measurements": m.drop(at.index), "missing": missing}
    )


def test_coded_missing_values_are_counted_by_code_and_not_analysed(
    frames: SourceFrames, protocol: Protocol
) -> None:
    changed = _with_missing_hba1c(frames, ["ND", "ND", "UNK"], "M12")
    results = analyse(derive_datasets(changed, protocol), protocol)
    before = analyse(derive_datasets(frames, protocol), protocol)
    hba1c, full = results.outcome("HBA1C"), before.outcome("HBA1C")
    assert hba1c is not None and full is not None
    at_m12 = next(v for v in hba1c.by_visit if v.visit == "M12")
    full_m12 = next(v for v in full.by_visit if v.visit == "M12")
    assert at_m12.missing == {"ND": 2, "UNK": 1}
    assert at_m12.value.n == full_m12.value.n - 3
    assert all(v.missing == {} for v in full.by_visit)
    table = next(t for t in all_tables(results) if t.key == "visits_HBA1C")
    row = next(r for r in table.rows if r[0] == at_m12.label)
    assert table.columns[-1] == "Missing (code: n)" and row[-1] == "ND: 2, UNK: 1"
    counts = build_results_json(results)["provenance"]["missingData"]
    assert {"paramcd": "HBA1C", "visit": at_m12.label, "code": "ND", "count": 2} in counts


def test_values_at_unscheduled_visits_are_listed_not_summarised(
    frames: SourceFrames, protocol: Protocol
) -> None:
    m = frames.measurements
    extra = m[(m["element"] == "hba1c") & (m["visit"] == "M3")].head(1).copy()
    extra["visit"] = "M3.U01"
    extra["date"] = extra["date"] + pd.Timedelta(days=10)
    extra["visit_day"] = extra["visit_day"] + 10
    extra["value"] = 11.9  # far from everyone else: it would move the M3 mean if it counted
    changed = SourceFrames(**{**frames.as_dict(), "measurements": pd.concat([m, extra])})
    results = analyse(derive_datasets(changed, protocol), protocol)
    before = analyse(derive_datasets(frames, protocol), protocol)
    after_rows = results.outcome("HBA1C").by_visit  # type: ignore[union-attr]
    before_rows = before.outcome("HBA1C").by_visit  # type: ignore[union-attr]
    assert [v.visit for v in after_rows] == [v.visit for v in before_rows]
    assert [v.value.mean for v in after_rows] == [v.value.mean for v in before_rows]
    listing = next(t for t in all_tables(results) if t.key == "unscheduled")
    assert [r[1] for r in listing.rows if r[4] == "HBA1C"] == ["M3.U01"]
    assert not any(t.key == "unscheduled" for t in all_tables(before))
