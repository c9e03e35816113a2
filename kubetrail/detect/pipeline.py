"""Engine + store + notifier: what the service and `kubetrail scan` run per event.

detector = Detector(Engine.from_paths(...), store, notifiers=[webhook], window=3600)
alerts = detector.ingest(raw, doc, event_id)   # after the event is stored
detector.finish()                              # end of a finite input: closes windows

or, for a batch: matches = [*detector.examine(raw, doc, id), ...]; detector.record(matches)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from kubetrail.detect.alerts import DEFAULT_WINDOW, Alert, AlertStore
from kubetrail.detect.engine import Engine
from kubetrail.detect.match import Match


class Notifier(Protocol):
    def notify(self, alert: Alert) -> None: ...


class Detector:
    def __init__(
        self,
        engine: Engine,
        store: AlertStore,
        notifiers: Iterable[Notifier] = (),
        window: float = DEFAULT_WINDOW,
    ) -> None:
        self.engine = engine
        self.store = store
        self.notifiers = list(notifiers)
        self.window = window

    def ingest(self, raw: dict[str, Any], doc: dict[str, Any], event_id: str) -> list[Alert]:
        """The alerts created or updated by one event; new ones are sent to the notifiers."""
        return [alert for alert, _ in self.record(self.examine(raw, doc, event_id))]

    def examine(self, raw: dict[str, Any], doc: dict[str, Any], event_id: str) -> list[Match]:
        """The rules' matches on one event, not yet recorded (see `record`)."""
        return self.engine.process(raw, doc, event_id)

    def finish(self) -> list[Alert]:
        return [alert for alert, _ in self.record(self.engine.flush())]

    def record(self, matches: list[Match]) -> list[tuple[Alert, bool]]:
        """`(alert, created)` for each of `matches`, saved in one store transaction; the new
        alerts are sent to the notifiers, as the whole batch left them."""
        out = self.store.upsert_many(matches, self.window)
        for alert, created in out:
            if created:
                for notifier in self.notifiers:
                    notifier.notify(alert)
        return out
