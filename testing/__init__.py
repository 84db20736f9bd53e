"""Plain-Python helpers the tests (`tests/`) and the benches (`bench/`) share; neither imports
the other. Not part of the product (not installed)."""
