"""Standards out and in: REDCap, CDISC ODM 1.3.2, SDTM (XPORT v5, Dataset-JSON 1.1, define.xml
2.1), HL7 FHIR R4B.

* `crf` — the case report form design (events, forms, items) built from the protocol schedule,
  the catalogue and `crf/layout.yaml`; REDCap and ODM render and rebuild it.
* `redcap` — data dictionary (18 columns), instruments, events `<visit>_arm_1`, instrument
  designations, repeating instruments, flat records CSV; readers with per-row rejections.
* `odm` — ODM 1.3.2 metadata and clinical data with audit records, validated against the
  official schema (`schemas/`); the reader rejects a bad file as a whole.
* `sdtm` — trial design (TS TA TE TV TI) from the protocol, subject domains (DM IE DS EX CM LB
  VS AE SV) from source frames, XPT/Dataset-JSON/define.xml, offline CORE rule checks.
* `fhir` — ResearchStudy and a collection Bundle, every resource validated by its R4B model.
* `from_store` / `to_store` — the study database as a source, and imports written through
  `trialdesk.services` in one transaction.

Command line: `trialdesk export redcap|odm|sdtm|fhir`, `trialdesk import redcap|odm`.
"""
