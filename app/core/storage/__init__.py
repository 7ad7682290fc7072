"""Time-series storage: the port (`base`) and its adapters."""
