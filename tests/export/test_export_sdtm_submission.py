"""Issue #15: SDTM content a sponsor's data manager checks before submission, from a simulated
cohort written through the services (SQLite, and PostgreSQL when configured): missed visits in
SV, the FDA-expected TS parameters with their reference terminologies, screen failures."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pandas as pd
import pytest
from tools.harness.database import (
    TestDatabase,
    backend_url,
    fresh_database,
    seed_demo_site_and_users,
)

from trialdesk.export.from_store import sdtm_sources
from trialdesk.export.sdtm.build import sdtm_datasets
from trialdesk.export.sdtm.conformance import check
from trialdesk.export.sdtm.trial_design import CDISC_CT_VERSION
from trialdesk.protocol import builtin_protocol
from trialdesk.simulate.followup import FollowupParameters
from trialdesk.simulate.run import SimulationSettings, run_simulation

pytestmark = pytest.mark.slow  # a simulated cohort written through the services

Datasets = dict[str, pd.DataFrame]


MISSED_SHARE = 0.3  # far above the default 4 %, so a small cohort misses visits


@pytest.fixture(scope="module")
def datasets(cohort: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Datasets]:
    """A cohort like the shared one (8 candidates, seed 3) that misses more visits."""
    db = fresh_database(backend_url(cohort.backend), directory=tmp_path_factory.mktemp("sv"))
    protocol = builtin_protocol()
    settings = SimulationSettings(
        n_candidates=8,
        seed=3,
        followup=dataclasses.replace(FollowupParameters(), missed_visit_share=MISSED_SHARE),
    )
    with db.session() as session:
        seed_demo_site_and_users(session)
        run_simulation(session, settings)
    with db.session() as session:
        yield sdtm_datasets(protocol, sdtm_sources(session, protocol))
    db.dispose()


def test_the_package_passes_every_implemented_core_rule(datasets: Datasets) -> None:
    assert check(datasets) == []


def test_missed_visits_are_planned_visits_that_did_not_occur(datasets: Datasets) -> None:
    sv = datasets["SV"]
    missed = sv[sv["SVOCCUR"] == "N"]
    assert len(missed) > 0, "the simulator records missed visits"
    assert set(missed["SVREASOC"]) == {"did not attend"}  # the site's reason
    assert set(missed["SVPRESP"]) == {"Y"} and missed["VISITDY"].notna().all()
    assert missed["SVSTDTC"].isna().all()  # no date for a visit that did not take place
    occurred = sv[sv["SVOCCUR"] == "Y"]
    assert occurred["SVSTDTC"].notna().all() and occurred["SVREASOC"].isna().all()
    keys = list(zip(sv["USUBJID"], sv["VISITNUM"], strict=True))
    assert len(keys) == len(set(keys))  # one record per subject and visit


def _ts(datasets: Datasets, parmcd: str) -> pd.Series:
    ts = datasets["TS"]
    rows = ts[ts["TSPARMCD"] == parmcd]
    assert len(rows) == 1, f"{parmcd}: {len(rows)} records"
    return rows.iloc[0]


def test_ts_has_the_fda_expected_parameters(datasets: Datasets) -> None:
    assert _ts(datasets, "TINDTP")["TSVAL"] == "TREATMENT"
    cutoff = _ts(datasets, "DCUTDTC")
    assert (cutoff["TSVCDREF"], pd.isna(cutoff["TSVALNF"])) == ("ISO 8601", True)
    last = max(d for d in datasets["LB"]["LBDTC"].dropna())
    assert cutoff["TSVAL"] >= last[:10]
    assert _ts(datasets, "DCUTDESC")["TSVAL"]
    stop = _ts(datasets, "STOPRULE")  # not in the registry record: null, no information
    assert pd.isna(stop["TSVAL"]) and stop["TSVALNF"] == "NI"
    ongoing = (datasets["DS"]["DSCAT"] == "DISPOSITION EVENT").sum() < len(datasets["DM"])
    end = _ts(datasets, "SENDTC")
    assert pd.isna(end["TSVAL"]) == ongoing
    for parmcd in ("PCLAS", "OBJSEC", "ADAPT", "SSTDTC", "AGEMIN", "LENGTH"):
        row = _ts(datasets, parmcd)
        assert isinstance(row["TSVAL"], str) or row["TSVALNF"] in ("NI", "UNK"), parmcd


def test_ts_values_name_their_reference_terminology(datasets: Datasets) -> None:
    phase = _ts(datasets, "TPHASE")
    assert (phase["TSVAL"], phase["TSVALCD"], phase["TSVCDREF"], phase["TSVCDVER"]) == (
        "PHASE I TRIAL",
        "C15600",
        "CDISC CT",
        CDISC_CT_VERSION,
    )
    for parmcd in ("SSTDTC", "AGEMIN", "AGEMAX", "LENGTH"):
        assert _ts(datasets, parmcd)["TSVCDREF"] == "ISO 8601", parmcd
    country = _ts(datasets, "FCNTRY")
    assert (country["TSVALCD"], country["TSVCDREF"]) == ("CHN", "ISO 3166-1 alpha-3")


def test_screen_failures_from_the_database(datasets: Datasets) -> None:
    dm = datasets["DM"]
    failures = dm[dm["ARMNRS"] == "SCREEN FAILURE"]
    assert len(failures) > 0, "the simulator screens candidates who fail"
    assert failures["ARMCD"].isna().all() and failures["RFSTDTC"].isna().all()
    assert set(failures["SEX"]) <= {"F", "M"}  # as recorded for the candidate, not "U"
    assert failures["AGE"].notna().all() and set(failures["AGEU"]) == {"YEARS"}
    ie = datasets["IE"]
    assert set(failures["USUBJID"]) <= set(ie["USUBJID"])  # every failure says why
    ds = datasets["DS"]
    assert set(failures["USUBJID"]) <= set(ds.loc[ds["DSDECOD"] == "SCREEN FAILURE", "USUBJID"])


def test_mh_holds_the_diagnosis_with_its_year_from_the_collected_duration(
    datasets: Datasets,
) -> None:
    mh, dm = datasets["MH"], datasets["DM"]
    treated = set(dm.loc[dm["ARMNRS"].isna(), "USUBJID"])
    failed = set(dm.loc[dm["ARMNRS"] == "SCREEN FAILURE", "USUBJID"])
    assert treated and failed  # both kinds of subject have their diagnosis in MH
    assert set(mh["USUBJID"]) == set(dm["USUBJID"])
    assert set(mh["MHTERM"]) == {"TYPE 2 DIABETES MELLITUS"}
    assert set(mh["MHENRTPT"]) == {"ONGOING"} and (mh["MHENTPT"] == mh["MHDTC"]).all()
    for start, collected in zip(mh["MHSTDTC"], mh["MHDTC"], strict=True):
        assert len(start) == 4 and int(start) <= int(collected[:4])  # ISO 8601 year


def test_suppex_carries_cell_source_and_total_cells_per_ex_record(datasets: Datasets) -> None:
    ex, supp = datasets["EX"], datasets["SUPPEX"]
    assert len(ex) > 0
    assert set(supp["RDOMAIN"]) == {"EX"} and set(supp["IDVAR"]) == {"EXSEQ"}
    keys = set(zip(ex["USUBJID"], ex["EXSEQ"].astype(int).astype(str), strict=True))
    assert set(zip(supp["USUBJID"], supp["IDVARVAL"], strict=True)) == keys
    for qnam in ("EXCELSRC", "EXTOTCEL"):
        assert (supp["QNAM"] == qnam).sum() == len(ex), qnam
    totals = supp.loc[supp["QNAM"] == "EXTOTCEL", "QVAL"]
    assert all(t.isdigit() and int(t) > 0 for t in totals)


def test_every_test_and_time_point_has_one_last_value_before_treatment(
    datasets: Datasets,
) -> None:
    lb = datasets["LB"]
    dm = datasets["DM"].set_index("USUBJID")["RFSTDTC"]
    before = lb[
        lb["LBSTRESC"].notna()
        & lb["LBDTC"].notna()
        & (lb["LBDTC"].str[:10] <= lb["USUBJID"].map(dm).fillna(""))
    ]
    groups = ["USUBJID", "LBTESTCD", "LBCAT", "LBSPEC", "LBTPTNUM"]
    flagged = lb[lb["LBLOBXFL"] == "Y"]
    assert len(before.groupby(groups, dropna=False)) == len(flagged) > 0
    assert not flagged.duplicated(groups).any()
    itt = flagged[flagged["LBCAT"] == "INSULIN TOLERANCE TEST"]
    assert itt["LBTPTNUM"].nunique() > 1  # each ITT sample time has its own baseline
