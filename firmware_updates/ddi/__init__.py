"""hawkBit DDI v1: the device protocol (DESIGN.md section 4)."""
