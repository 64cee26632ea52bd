"""Offline conformance checks: the CDISC CORE rules (cdisc-org/cdisc-open-rules, "Published")
that apply to trialdesk's SDTMIG 3.4 datasets, re-implemented on the pandas frames.

The CORE engine itself (`cdisc-rules-engine` ≥ 0.10) needs Python 3.12 and its rules cache, so it
cannot run on trialdesk's Python 3.11 ([@CDISC-CORE]). Each check below names the CORE rule
it mirrors; rules that need the CDISC Library (controlled-terminology membership, IG label
lookups, MedDRA) are not implemented and are listed in `NOT_CHECKED`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from trialdesk.export.sdtm.spec import DOMAINS
from trialdesk.export.sdtm.text import (
    ISO_DATE_LENGTH,
    MAX_ARMCD_LENGTH,
    MAX_LABEL_LENGTH,
    MAX_NAME_LENGTH,
    study_day,
)

Datasets = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class Finding:
    rule: str  # CORE rule id
    domain: str
    variable: str
    message: str
    rows: tuple[int, ...] = ()

    def __str__(self) -> str:
        where = f" rows {', '.join(str(r + 1) for r in self.rows[:5])}" if self.rows else ""
        return f"{self.rule} {self.domain}.{self.variable}{where}: {self.message}"


NOT_CHECKED = {
    "CORE-000398": "variable labels equal the IG's (needs the CDISC Library; labels here are "
    "typed from SDTMIG 3.4 and pinned by tests)",
    "CORE-000929": "DOMAIN in CDISC CT (needs the CT package)",
    "CT membership": "--TESTCD, EPOCH, DSDECOD, AEOUT, UNIT … in CDISC CT codelists (needs CT)",
    "MedDRA": "AEDECOD/AEBODSYS coding (needs the MedDRA dictionary)",
}

_RULES: list[Callable[[Datasets], Iterable[Finding]]] = []


def rule(fn: Callable[[Datasets], Iterable[Finding]]) -> Callable[[Datasets], Iterable[Finding]]:
    _RULES.append(fn)
    return fn


def check(datasets: Datasets) -> list[Finding]:
    """Every finding of every implemented rule; empty when the datasets conform."""
    return [finding for fn in _RULES for finding in fn(datasets)]


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype(str).str.strip() == "")


def _rows(mask: pd.Series) -> tuple[int, ...]:
    return tuple(int(i) for i in mask[mask].index)


def _prefixed(domain: str, stem: str) -> str:
    return domain + stem


@rule
def required_and_expected(ds: Datasets) -> Iterable[Finding]:
    """CORE-000355/356 required variables present and populated; CORE-000334 expected present;
    CORE-000182 names ≤ 8; CORE-000019 labels ≤ 40."""
    for code, frame in ds.items():
        for var in DOMAINS[code].variables:
            if var.name not in frame.columns:
                rule_id = {"Req": "CORE-000355", "Exp": "CORE-000334"}.get(var.core)
                if rule_id:
                    yield Finding(rule_id, code, var.name, f"{var.core} variable is missing")
                continue
            if var.core == "Req" and _blank(frame[var.name]).any():
                yield Finding(
                    "CORE-000356",
                    code,
                    var.name,
                    "Required variable is null",
                    _rows(_blank(frame[var.name])),
                )
            if len(var.name) > MAX_NAME_LENGTH:
                yield Finding("CORE-000182", code, var.name, "name longer than 8")
            if len(var.label) > MAX_LABEL_LENGTH:
                yield Finding("CORE-000019", code, var.name, "label longer than 40")


@rule
def studyid_matches_dm(ds: Datasets) -> Iterable[Finding]:
    """CORE-000172 STUDYID equals DM.STUDYID in every domain."""
    if "DM" not in ds or ds["DM"].empty:
        return
    study = set(ds["DM"]["STUDYID"])
    for code, frame in ds.items():
        bad = ~frame["STUDYID"].isin(study)
        if bad.any():
            yield Finding("CORE-000172", code, "STUDYID", "differs from DM.STUDYID", _rows(bad))


_TESTCD = re.compile(r"^[A-Z_][A-Z0-9_]{0,7}$")


@rule
def test_codes(ds: Datasets) -> Iterable[Finding]:
    """CORE-000220/541 --TESTCD ≤ 8, letters/digits/underscore, no leading digit;
    CORE-000199 --TEST ≤ 40 (not IE/TI); CORE-000303 --TESTCD/--TEST one-to-one."""
    for code, frame in ds.items():
        testcd = "IETESTCD" if code in ("IE", "TI") else f"{code}TESTCD"
        test = testcd[:-2]
        if testcd not in frame.columns:
            continue
        bad = ~frame[testcd].astype(str).str.match(_TESTCD)
        if bad.any():
            yield Finding("CORE-000220", code, testcd, "not a valid test code", _rows(bad))
        if code not in ("IE", "TI"):
            long = frame[test].astype(str).str.len() > MAX_LABEL_LENGTH
            if long.any():
                yield Finding("CORE-000199", code, test, "longer than 40", _rows(long))
        pairs = frame[[testcd, test]].drop_duplicates()
        if pairs[testcd].duplicated().any() or pairs[test].duplicated().any():
            yield Finding("CORE-000303", code, testcd, f"{testcd} and {test} not one-to-one")


@rule
def trial_summary(ds: Datasets) -> Iterable[Finding]:
    """CORE-000147/148 TSPARMCD ≤ 8, TSPARM ≤ 40; CORE-000154 TSSEQ unique in TSPARMCD;
    CORE-000179 TSPARMCD/TSPARM one-to-one; CORE-000041 TSVAL xor TSVALNF;
    CORE-000294/505 AGEMAX/AGEMIN/SSTDTC in ISO 8601."""
    ts = ds.get("TS")
    if ts is None:
        return
    if (ts["TSPARMCD"].str.len() > MAX_NAME_LENGTH).any():
        yield Finding("CORE-000147", "TS", "TSPARMCD", "longer than 8")
    if (ts["TSPARM"].str.len() > MAX_LABEL_LENGTH).any():
        yield Finding("CORE-000148", "TS", "TSPARM", "longer than 40")
    if ts.duplicated(["TSPARMCD", "TSSEQ"]).any():
        yield Finding("CORE-000154", "TS", "TSSEQ", "not unique within TSPARMCD")
    pairs = ts[["TSPARMCD", "TSPARM"]].drop_duplicates()
    if pairs["TSPARMCD"].duplicated().any() or pairs["TSPARM"].duplicated().any():
        yield Finding("CORE-000179", "TS", "TSPARM", "TSPARMCD and TSPARM not one-to-one")
    both = _blank(ts["TSVAL"]) == _blank(ts["TSVALNF"])
    if both.any():
        yield Finding(
            "CORE-000041",
            "TS",
            "TSVALNF",
            "exactly one of TSVAL and TSVALNF is populated",
            _rows(both),
        )
    patterns = {
        "AGEMIN": r"^P\d+[YMWD]$",
        "AGEMAX": r"^P\d+[YMWD]$",
        "SSTDTC": r"^\d{4}-\d{2}-\d{2}$",
    }
    for parm, pattern in patterns.items():
        values = ts.loc[(ts["TSPARMCD"] == parm) & ~_blank(ts["TSVAL"]), "TSVAL"]
        if (~values.astype(str).str.match(pattern)).any():
            yield Finding(
                "CORE-000294" if parm != "SSTDTC" else "CORE-000505",
                "TS",
                "TSVAL",
                f"{parm} is not ISO 8601",
            )


@rule
def trial_arms_elements(ds: Datasets) -> Iterable[Finding]:
    """CORE-000027 TEENRL or TEDUR; CORE-000143 ETCD ≤ 8; CORE-000132 ETCD/ELEMENT one-to-one;
    CORE-000173 TA.ETCD in TE; CORE-000144 TAETORD unique in ARM; CORE-000010 ARMCD ≤ 20."""
    te, ta = ds.get("TE"), ds.get("TA")
    if te is not None:
        neither = _blank(te["TEENRL"]) & _blank(te["TEDUR"])
        if neither.any():
            yield Finding("CORE-000027", "TE", "TEENRL", "neither TEENRL nor TEDUR", _rows(neither))
        if (te["ETCD"].str.len() > MAX_NAME_LENGTH).any():
            yield Finding("CORE-000143", "TE", "ETCD", "longer than 8")
    if ta is not None:
        if te is not None:
            unknown = ~ta["ETCD"].isin(set(te["ETCD"]))
            if unknown.any():
                yield Finding("CORE-000173", "TA", "ETCD", "not in TE.ETCD", _rows(unknown))
            pairs = pd.concat([ta[["ETCD", "ELEMENT"]], te[["ETCD", "ELEMENT"]]]).drop_duplicates()
            if pairs["ETCD"].duplicated().any() or pairs["ELEMENT"].duplicated().any():
                yield Finding("CORE-000132", "TA", "ELEMENT", "ETCD and ELEMENT not one-to-one")
        if ta.duplicated(["ARM", "TAETORD"]).any():
            yield Finding("CORE-000144", "TA", "TAETORD", "not unique within ARM")
        if (ta["ARMCD"].str.len() > MAX_ARMCD_LENGTH).any():
            yield Finding("CORE-000010", "TA", "ARMCD", "longer than 20")


@rule
def demographics(ds: Datasets) -> Iterable[Finding]:
    """CORE-000210/047 DM.ARMCD/ARM in TA; CORE-000189/190 AGE with AGEU; CORE-000310 AGE ≥ 0;
    CORE-000186/351 SUBJID/USUBJID unique; CORE-000191 RFENDTC when ARM; CORE-000711/714
    reference start ≤ end; CORE-000252/253/254 death flag."""
    dm = ds.get("DM")
    if dm is None:
        return
    ta = ds.get("TA")
    if ta is not None:
        yield from _dm_arms(dm, ta)
    yield from _dm_age_and_ids(dm)
    yield from _dm_reference_period(dm)
    yield from _dm_death(ds, dm)


def _dm_arms(dm: pd.DataFrame, ta: pd.DataFrame) -> Iterable[Finding]:
    """CORE-000210/047: DM.ARMCD, ARM and ACTARMCD are arms of TA."""
    for var, ref in (("ARMCD", "ARMCD"), ("ARM", "ARM"), ("ACTARMCD", "ARMCD")):
        bad = ~_blank(dm[var]) & ~dm[var].isin(set(ta[ref]))
        if bad.any():
            yield Finding("CORE-000210", "DM", var, f"not in TA.{ref}", _rows(bad))


def _dm_age_and_ids(dm: pd.DataFrame) -> Iterable[Finding]:
    """CORE-000189/190 AGE with AGEU; CORE-000310 AGE ≥ 0; CORE-000186/351 unique ids."""
    age, ageu = _blank(dm["AGE"]), _blank(dm["AGEU"])
    if (age != ageu).any():
        yield Finding("CORE-000189", "DM", "AGEU", "AGE and AGEU not populated together")
    if (pd.to_numeric(dm["AGE"], errors="coerce") < 0).any():
        yield Finding("CORE-000310", "DM", "AGE", "negative")
    for var, rule_id in (("SUBJID", "CORE-000186"), ("USUBJID", "CORE-000351")):
        if dm[var].duplicated().any():
            yield Finding(rule_id, "DM", var, "not unique", _rows(dm[var].duplicated()))


def _dm_reference_period(dm: pd.DataFrame) -> Iterable[Finding]:
    """CORE-000191 RFENDTC when ARM; CORE-000711/714 reference start ≤ end."""
    no_end = ~_blank(dm["ARM"]) & _blank(dm["RFENDTC"])
    if no_end.any():
        yield Finding(
            "CORE-000191", "DM", "RFENDTC", "missing when ARM is populated", _rows(no_end)
        )
    for start, end, rule_id in (
        ("RFSTDTC", "RFENDTC", "CORE-000711"),
        ("RFXSTDTC", "RFXENDTC", "CORE-000714"),
    ):
        both = ~_blank(dm[start]) & ~_blank(dm[end])
        late = both & (dm[start].astype(str).str[:10] > dm[end].astype(str).str[:10])
        if late.any():
            yield Finding(rule_id, "DM", start, f"{start} after {end}", _rows(late))


def _dm_death(ds: Datasets, dm: pd.DataFrame) -> Iterable[Finding]:
    """CORE-000252/253/254: DTHFL is Y for a subject whose death DS or AE records."""
    dead: set[str] = set()
    if "DS" in ds:
        dead |= set(ds["DS"].loc[ds["DS"]["DSDECOD"] == "DEATH", "USUBJID"])
    if "AE" in ds:
        ae = ds["AE"]
        dead |= set(ae.loc[(ae["AESDTH"] == "Y") | (ae["AEOUT"] == "FATAL"), "USUBJID"])
    bad = dm["USUBJID"].isin(dead) & (dm["DTHFL"] != "Y")
    if bad.any():
        yield Finding(
            "CORE-000252", "DM", "DTHFL", "subject died (DS/AE) but DTHFL is not Y", _rows(bad)
        )


@rule
def reference_dates(ds: Datasets) -> Iterable[Finding]:
    """CORE-000239/238 RFXSTDTC/RFXENDTC = first/last EX date; CORE-000370 RFICDTC = earliest
    consent in DS; CORE-000296 treated subjects have DS records."""
    dm = ds.get("DM")
    if dm is None:
        return
    ex, dsd = ds.get("EX"), ds.get("DS")
    if ex is not None and not ex.empty:
        first = ex.groupby("USUBJID")["EXSTDTC"].min()
        last = (
            ex.assign(END=ex["EXENDTC"].where(~_blank(ex["EXENDTC"]), ex["EXSTDTC"]))
            .groupby("USUBJID")["END"]
            .max()
        )
        for var, values, rule_id in (
            ("RFXSTDTC", first, "CORE-000239"),
            ("RFXENDTC", last, "CORE-000238"),
        ):
            expected = dm["USUBJID"].map(values)
            bad = expected.notna() & (dm[var] != expected)
            if bad.any():
                yield Finding(rule_id, "DM", var, "does not match EX", _rows(bad))
    if dsd is not None:
        consent = (
            dsd[dsd["DSDECOD"] == "INFORMED CONSENT OBTAINED"].groupby("USUBJID")["DSSTDTC"].min()
        )
        expected = dm["USUBJID"].map(consent)
        bad = expected.notna() & (dm["RFICDTC"] != expected)
        if bad.any():
            yield Finding(
                "CORE-000370", "DM", "RFICDTC", "not the earliest consent in DS", _rows(bad)
            )
        treated = ~_blank(dm["ACTARMCD"]) & ~dm["USUBJID"].isin(set(dsd["USUBJID"]))
        if treated.any():
            yield Finding("CORE-000296", "DM", "ACTARMCD", "no DS records", _rows(treated))


@rule
def adverse_events(ds: Datasets) -> Iterable[Finding]:
    """CORE-000022/266 seriousness criteria agree with AESER; CORE-000087, 000124–000130 Y/N;
    CORE-000718 AESTDTC ≤ AEENDTC."""
    ae = ds.get("AE")
    if ae is None or ae.empty:
        return
    flags = ["AESCONG", "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESMIE"]
    for var in ["AESER", *flags]:
        bad = ~_blank(ae[var]) & ~ae[var].isin(["Y", "N"])
        if bad.any():
            yield Finding("CORE-000087", "AE", var, "not Y or N", _rows(bad))
    any_flag = (ae[flags] == "Y").any(axis=1)
    bad = any_flag & (ae["AESER"] != "Y")
    if bad.any():
        yield Finding(
            "CORE-000022",
            "AE",
            "AESER",
            "a seriousness criterion is Y but AESER is not",
            _rows(bad),
        )
    bad = ~any_flag & (ae["AESER"] == "Y")
    if bad.any():
        yield Finding(
            "CORE-000266", "AE", "AESER", "AESER is Y but no seriousness criterion is", _rows(bad)
        )
    both = ~_blank(ae["AEENDTC"])
    late = both & (ae["AESTDTC"].astype(str).str[:10] > ae["AEENDTC"].astype(str).str[:10])
    if late.any():
        yield Finding("CORE-000718", "AE", "AESTDTC", "after AEENDTC", _rows(late))


@rule
def inclusion_exclusion(ds: Datasets) -> Iterable[Finding]:
    """CORE-000001/011 IEORRES N for inclusion, Y for exclusion; CORE-000025 IESTRESC = IEORRES;
    CORE-000228/227 IETESTCD and IETEST in TI."""
    ie, ti = ds.get("IE"), ds.get("TI")
    if ie is None or ie.empty:
        return
    bad = (ie["IECAT"] == "INCLUSION") & (ie["IEORRES"] != "N")
    if bad.any():
        yield Finding("CORE-000001", "IE", "IEORRES", "not N for an inclusion", _rows(bad))
    bad = (ie["IECAT"] == "EXCLUSION") & (ie["IEORRES"] != "Y")
    if bad.any():
        yield Finding("CORE-000011", "IE", "IEORRES", "not Y for an exclusion", _rows(bad))
    if (ie["IESTRESC"] != ie["IEORRES"]).any():
        yield Finding("CORE-000025", "IE", "IESTRESC", "differs from IEORRES")
    if ti is not None:
        for var, rule_id in (("IETESTCD", "CORE-000228"), ("IETEST", "CORE-000227")):
            bad = ~ie[var].isin(set(ti[var]))
            if bad.any():
                yield Finding(rule_id, "IE", var, f"not in TI.{var}", _rows(bad))


@rule
def subject_visits(ds: Datasets) -> Iterable[Finding]:
    """CORE-000036/039 planned SV visits in TV; CORE-000204 VISITNUM unique per subject;
    CORE-000037 SVPRESP Y or null; CORE-000168 other domains' VISITNUM in SV; CORE-000271 EPOCH
    in TA.EPOCH."""
    sv, tv, ta = ds.get("SV"), ds.get("TV"), ds.get("TA")
    if sv is not None and tv is not None:
        yield from _planned_visits(sv, tv)
    if sv is not None:
        yield from _visits_in_sv(ds, sv)
    if ta is not None:
        yield from _epochs_in_ta(ds, ta)


def _planned_visits(sv: pd.DataFrame, tv: pd.DataFrame) -> Iterable[Finding]:
    """CORE-000036/039 planned SV visits in TV; CORE-000204 unique; CORE-000037 SVPRESP."""
    planned = sv["SVPRESP"] == "Y"
    bad = planned & ~sv["VISITNUM"].isin(set(tv["VISITNUM"]))
    if bad.any():
        yield Finding("CORE-000039", "SV", "VISITNUM", "planned visit not in TV", _rows(bad))
    bad = planned & ~sv["VISIT"].isin(set(tv["VISIT"]))
    if bad.any():
        yield Finding("CORE-000036", "SV", "VISIT", "planned visit not in TV", _rows(bad))
    if sv.duplicated(["USUBJID", "VISITNUM"]).any():
        yield Finding("CORE-000204", "SV", "VISITNUM", "not unique within subject")
    bad = ~_blank(sv["SVPRESP"]) & (sv["SVPRESP"] != "Y")
    if bad.any():
        yield Finding("CORE-000037", "SV", "SVPRESP", "not Y or null", _rows(bad))


def _visits_in_sv(ds: Datasets, sv: pd.DataFrame) -> Iterable[Finding]:
    """CORE-000168: every other domain's (USUBJID, VISITNUM) is a visit of SV."""
    for code, frame in ds.items():
        if code in ("SV", "TV") or "VISITNUM" not in frame.columns:
            continue
        visits = set(zip(sv["USUBJID"], sv["VISITNUM"], strict=True))
        keys = pd.Series(
            list(zip(frame["USUBJID"], frame["VISITNUM"], strict=True)), index=frame.index
        )
        bad = frame["VISITNUM"].notna() & ~keys.isin(visits)
        if bad.any():
            yield Finding("CORE-000168", code, "VISITNUM", "not among SV visits", _rows(bad))


def _epochs_in_ta(ds: Datasets, ta: pd.DataFrame) -> Iterable[Finding]:
    """CORE-000271: every EPOCH is an epoch of TA."""
    for code, frame in ds.items():
        if code == "TA" or "EPOCH" not in frame.columns:
            continue
        bad = ~_blank(frame["EPOCH"]) & ~frame["EPOCH"].isin(set(ta["EPOCH"]))
        if bad.any():
            yield Finding("CORE-000271", code, "EPOCH", "not in TA.EPOCH", _rows(bad))


@rule
def findings_results(ds: Datasets) -> Iterable[Finding]:
    """CORE-000021 STRESC when ORRES or derived; CORE-000133 STRESC when STRESU; CORE-000542
    numeric STRESC equals STRESN; CORE-000732 STRESN empty when STRESC is not numeric;
    CORE-000200 ORRES unless derived or not done; CORE-000699 one standard unit per test;
    CORE-000914 one baseline record per subject and test."""
    for code in ("LB", "VS"):
        frame = ds.get(code)
        if frame is None or frame.empty:
            continue
        p = code
        derived = frame.get(f"{p}DRVFL", pd.Series("", index=frame.index)) == "Y"
        # A test not done has no result (SDTMIG 4.5.1.2): ORRES is then expected to be empty.
        not_done = frame.get(f"{p}STAT", pd.Series("", index=frame.index)) == "NOT DONE"
        orres, stresc = ~_blank(frame[f"{p}ORRES"]), ~_blank(frame[f"{p}STRESC"])
        if ((orres | derived) & ~stresc).any():
            yield Finding("CORE-000021", code, f"{p}STRESC", "missing")
        if (~_blank(frame[f"{p}STRESU"]) & ~stresc).any():
            yield Finding("CORE-000133", code, f"{p}STRESC", "missing with STRESU")
        lacking = ~orres & ~derived & ~not_done
        if lacking.any():
            yield Finding("CORE-000200", code, f"{p}ORRES", "missing", _rows(lacking))
        numeric = pd.to_numeric(frame[f"{p}STRESC"], errors="coerce")
        stresn = pd.to_numeric(frame[f"{p}STRESN"], errors="coerce")
        bad = numeric.notna() & ((stresn - numeric).abs() > 1e-9 * numeric.abs().clip(lower=1))
        bad |= numeric.notna() & stresn.isna()
        if bad.any():
            yield Finding(
                "CORE-000542", code, f"{p}STRESN", "differs from numeric STRESC", _rows(bad)
            )
        bad = stresc & numeric.isna() & stresn.notna()
        if bad.any():
            yield Finding(
                "CORE-000732", code, f"{p}STRESN", "populated for a text result", _rows(bad)
            )
        units = frame[~_blank(frame[f"{p}STRESU"])].groupby(f"{p}TESTCD")[f"{p}STRESU"].nunique()
        for testcd in units[units > 1].index:
            yield Finding("CORE-000699", code, f"{p}STRESU", f"several units for {testcd}")
        flag = frame[frame[f"{p}LOBXFL"] == "Y"]
        group = ["USUBJID", f"{p}TESTCD"] + ([f"{p}CAT", f"{p}SPEC"] if code == "LB" else [])
        group += [f"{p}TPTNUM"] if f"{p}TPTNUM" in frame.columns else []  # per time point
        if flag.duplicated(group).any():
            yield Finding("CORE-000914", code, f"{p}LOBXFL", "more than one baseline record")


@rule
def time_points(ds: Datasets) -> Iterable[Finding]:
    """CORE-000026/029/166 --TPT with --TPTNUM; CORE-000167/865 --ELTM needs --TPTREF."""
    for code, frame in ds.items():
        tpt, num, eltm, ref = (f"{code}TPT", f"{code}TPTNUM", f"{code}ELTM", f"{code}TPTREF")
        if tpt not in frame.columns:
            continue
        mismatch = _blank(frame[tpt]) != frame[num].isna()
        if mismatch.any():
            yield Finding("CORE-000026", code, num, "TPT and TPTNUM not together", _rows(mismatch))
        bad = ~_blank(frame[eltm]) & _blank(frame[ref])
        if bad.any():
            yield Finding("CORE-000865", code, ref, "missing with ELTM", _rows(bad))


@rule
def study_days(ds: Datasets) -> Iterable[Finding]:
    """CORE-000853 --DY populated with a complete --DTC; CORE-000529/552/553 study day computed
    by the SDTMIG algorithm from DM.RFSTDTC; CORE-000516 EX days not negative."""
    dm = ds.get("DM")
    if dm is None:
        return
    reference = dict(zip(dm["USUBJID"], dm["RFSTDTC"], strict=True))
    pairs = {"DTC": "DY", "STDTC": "STDY", "ENDTC": "ENDY"}
    for code, frame in ds.items():
        if code == "DM" or "USUBJID" not in frame.columns:
            continue
        for dtc_stem, dy_stem in pairs.items():
            dtc, dy = f"{code}{dtc_stem}", f"{code}{dy_stem}"
            if dtc not in frame.columns or dy not in frame.columns:
                continue
            expected = [
                study_day(d, reference.get(u))
                if isinstance(d, str) and len(d) >= ISO_DATE_LENGTH
                else None
                for d, u in zip(frame[dtc], frame["USUBJID"], strict=True)
            ]
            exp = pd.Series(expected, index=frame.index, dtype="float")
            got = pd.to_numeric(frame[dy], errors="coerce")
            bad = (exp.notna() & (got != exp)) | (exp.isna() & got.notna())
            if bad.any():
                yield Finding("CORE-000529", code, dy, "not the SDTMIG study day", _rows(bad))
            if code == "EX" and (got < 0).any():
                yield Finding("CORE-000516", code, dy, "negative exposure study day")


@rule
def text_values(ds: Datasets) -> Iterable[Finding]:
    """CORE-000867 no leading spaces; CORE-000890 no '.' as a whole value; CORE-000093 --DOSU
    with a dose; CORE-000308 dose not negative."""
    for code, frame in ds.items():
        for var in DOMAINS[code].variables:
            if var.type != "Char" or var.name not in frame.columns:
                continue
            text = frame[var.name].dropna().astype(str)
            if text.str.startswith(" ").any():
                yield Finding("CORE-000867", code, var.name, "leading space")
            if (text == ".").any():
                yield Finding("CORE-000890", code, var.name, "'.' as a value")
        for dose, unit in ((f"{code}DOSE", f"{code}DOSU"), (f"{code}DOSTOT", f"{code}DOSU")):
            if dose in frame.columns and unit in frame.columns:
                number = pd.to_numeric(frame[dose], errors="coerce")
                if (number.notna() & _blank(frame[unit])).any():
                    yield Finding("CORE-000093", code, unit, f"missing with {dose}")
                if (number < 0).any():
                    yield Finding("CORE-000308", code, dose, "negative")
