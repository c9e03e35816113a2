"""Where events and state live.

    EventStore   append-only events: append, search, count, facet, histogram, get, retention
    StateStore   small mutable state: intakes, API tokens, alerts
    open_stores  the backends a configuration selects: embedded SQLite by default,
                 ClickHouse (events_url) and PostgreSQL (state_url) for a fleet

Backends implement the protocols in `kubetrail.store.base`; nothing outside a backend's own
package knows which database it talks to.
"""
