"""The ClickHouse events backend, for fleets past one machine (see docs/scale-out.md)."""
