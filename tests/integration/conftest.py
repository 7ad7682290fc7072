"""Fixtures of the integration tests: the time-series stores under the same contract (`store`: the SQL
tables, and InfluxDB behind its outbox) and the InfluxDB server behind them."""

from tests.support.storage import influxd, store  # noqa: F401  (fixtures)
