"""Per-key leadership in one process: leaders, waiters, re-entry, expiry, bounded memory."""

from __future__ import annotations

import threading

from tiered_cache.engine.flight import SWEEP_AT, Flights


def test_one_leader_per_key_and_the_others_wait_for_it() -> None:
    flights = Flights()
    leads, lead = flights.join("k", 30.0)
    assert leads and lead.key == "k"
    assert flights.join("k", 30.0) == (True, lead)  # the same thread leads still
    other: list[tuple[bool, object]] = []
    thread = threading.Thread(target=lambda: other.append(flights.join("k", 30.0)))
    thread.start()
    thread.join(10)
    assert other == [(False, lead)]
    assert flights.held("k", threading.get_ident()) is lead
    flights.land(lead)
    assert lead.done.is_set() and len(flights) == 0
    assert flights.held("k", threading.get_ident()) is None


def test_an_expired_lead_is_replaced_and_its_waiters_woken() -> None:
    flights = Flights()
    _, stale = flights.join("k", 0.0)
    other: list[tuple[bool, object]] = []
    thread = threading.Thread(target=lambda: other.append(flights.join("k", 30.0)))
    thread.start()
    thread.join(10)
    ((leads, lead),) = other
    assert leads and lead is not stale and stale.done.is_set()
    flights.land(stale)  # a late landing of the stale lead frees nothing
    assert len(flights) == 1


def test_leads_never_landed_do_not_pile_up() -> None:
    flights = Flights()
    for i in range(SWEEP_AT + 10):
        flights.join(f"abandoned {i}", 0.0)
    assert len(flights) <= SWEEP_AT
    leads, _ = flights.join("live", 30.0)
    assert leads and len(flights) < SWEEP_AT
