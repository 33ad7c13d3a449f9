"""IHE transaction semantics shared by the HL7 v2 and FHIR adapters (IHE ITI TF-2).

PIX Manager (ITI-8/9/10, ITI-83/104) and PDQ Supplier (ITI-21, ITI-78) logic lives here so
that ITI-9 and ITI-83 run the same code.  Layer: imports ``core`` only (DESIGN.md).
"""
