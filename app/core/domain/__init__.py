"""Pure logic with no I/O: metrics and units, validation, levels, the IAQ score.

Imports nothing else of the project."""
