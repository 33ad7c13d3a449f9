"""HL7 v2 over MLLP: framing, codec, dispatch and ACK building (IHE ITI TF-2 Appendix C)."""
