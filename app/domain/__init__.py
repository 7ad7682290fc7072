"""Pure logic with no I/O: metrics and units, validation, levels. Imports nothing else of the project."""
