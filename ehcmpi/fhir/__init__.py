"""HL7 FHIR R4 (4.0.1) face of the index: FastAPI app, one operation per module."""
