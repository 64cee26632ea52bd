"""HL7 FHIR R4B (4.3.0) resources, every one validated by the fhir.resources R4B models."""
