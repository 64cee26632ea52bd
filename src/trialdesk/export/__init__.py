"""Standards out and in: REDCap, CDISC ODM/SDTM/define.xml, FHIR R4B."""
