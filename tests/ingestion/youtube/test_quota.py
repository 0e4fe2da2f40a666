"""The quota gate: every attempt holds a reservation that is on the ledger before it is sent.

Threads play the network threads (acquire, "send", sometimes refund) against a writer
thread that commits what the gate asks for into a plain list (the ledger); the ledger is
read at every send, so an attempt sent before its unit was committed would be caught.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.youtube.apiclock import ApiClock, api_day
from ingestion.youtube.quota import RELEASED, RESERVED, BudgetExhausted, GateClosed, QuotaGate

NOW = datetime(2023, 2, 8, 12, tzinfo=UTC)


class FixedClock(ApiClock):
    def now(self) -> datetime:
        return NOW


class Writer:
    """The crawler's writing thread in miniature: commits the gate's entries when woken."""

    def __init__(self, gate_box: list):
        self.ledger: list[tuple[date, str, int]] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.done = threading.Event()
        self.gate_box = gate_box
        self.thread = threading.Thread(target=self.run, daemon=True)

    def reserved_units(self) -> int:
        with self.lock:
            return sum(units for _day, kind, units in self.ledger if kind == RESERVED)

    def run(self) -> None:
        gate: QuotaGate = self.gate_box[0]
        while not self.done.is_set():
            self.wake.wait(0.05)
            self.wake.clear()
            entries = gate.to_commit()
            with self.lock:
                self.ledger.extend(entries)  # "committed"
            gate.committed(entries)


@settings(max_examples=25, deadline=None)
@given(
    threads=st.integers(1, 6),
    attempts=st.lists(st.integers(0, 12), min_size=1, max_size=6),
    prefetch=st.integers(0, 6),
    budget=st.integers(1, 60),
    already=st.integers(0, 20),
    refund_every=st.integers(0, 4),
)
def test_no_attempt_is_sent_before_its_unit_is_committed(threads, attempts, prefetch, budget, already,
                                                         refund_every):
    day = api_day(NOW)
    box: list = []
    writer = Writer(box)
    gate = QuotaGate(budget, FixedClock(), {day: already}, prefetch=prefetch, on_request=writer.wake.set)
    box.append(gate)
    writer.thread.start()
    sent = refunded = 0
    lock = threading.Lock()
    violations: list[str] = []

    def network(n: int) -> None:
        nonlocal sent, refunded
        for i in range(n):
            try:
                gate.acquire()
            except BudgetExhausted:
                return
            with lock:
                sent += 1
                # The ledger must already hold this attempt: committed reservations >= attempts sent.
                if writer.reserved_units() < sent:
                    violations.append(f"attempt {sent} sent with {writer.reserved_units()} units reserved")
            if refund_every and i % refund_every == 0:
                gate.refund_last()
                with lock:
                    refunded += 1

    workers = [threading.Thread(target=network, args=(attempts[i % len(attempts)],)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    writer.done.set()
    writer.wake.set()
    writer.thread.join(5)
    assert not violations
    assert not any(w.is_alive() for w in workers)
    reserved = sum(u for _d, kind, u in writer.ledger if kind == RESERVED)
    # Reservations never go over the budget (units the API did not charge are given back).
    assert already + reserved - refunded <= max(budget, already)
    if already >= budget:
        assert sent == 0
    # Settled: the ledger is exactly the attempts the API charged (sent less refunded).
    final = writer.ledger + gate.settle()
    assert sum(units for _day, _kind, units in final) == sent - refunded
    assert all(units < 0 for _d, kind, units in final if kind == RELEASED)


def test_a_closed_gate_sends_nothing_more():
    gate = QuotaGate(10, FixedClock(), prefetch=0)
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            gate.acquire()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    while not gate.to_commit():  # the thread has asked for a reservation (never committed here)
        threading.Event().wait(0.01)
    gate.close()
    thread.join(5)
    assert [type(e) for e in errors] == [GateClosed]
    with pytest.raises(GateClosed):
        gate.acquire()


def test_budget_counts_every_crawl_of_the_day_and_reservations_in_flight():
    day = api_day(NOW)
    gate = QuotaGate(5, FixedClock(), {day: 3}, prefetch=4)
    entries = gate.to_commit()
    assert entries == [(day, RESERVED, 2)]  # prefetch is capped by the budget left
    gate.committed(entries)
    gate.acquire()
    gate.acquire()
    with pytest.raises(BudgetExhausted, match="5 of 5 units"):
        gate.acquire()
    assert gate.settle() == []  # both reservations used: nothing to release
