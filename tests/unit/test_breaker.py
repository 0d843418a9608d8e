from __future__ import annotations

from tiered_cache.engine.breaker import CircuitBreaker


def test_opens_after_consecutive_failures_and_probes_after_cooldown() -> None:
    now = [0.0]
    b = CircuitBreaker(failures=3, cooldown=2.0, clock=lambda: now[0])
    for _ in range(2):
        b.failure()
    assert b.allow() and not b.is_open
    b.success()  # a success resets the count
    for _ in range(3):
        b.failure()
    assert b.is_open and not b.allow()
    now[0] = 2.5
    assert b.allow()  # one probe
    assert not b.allow()  # the others keep missing
    b.failure()
    now[0] = 5.0
    assert b.allow()
    b.success()
    assert not b.is_open and b.allow()
