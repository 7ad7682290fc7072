"""The ground everything stands on, importing nothing above it: settings, the event bus, workers, metrics,
principals and password hashing, the pure domain, the registry's database and the time-series storage."""
