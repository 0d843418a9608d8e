"""The bound under max_wrong_rate, pure: Clopper-Pearson figures, the level it allows, tightening
after wrong answers and cautious loosening after agreement, per-entry floors, the audit rate."""

from __future__ import annotations

import pytest
from tiered_cache import CacheConfig
from tiered_cache.errors import ConfigurationError
from tiered_cache.rules import bound as qb

LADDER = qb.Ladder(threshold=0.90, cutoff=None)  # level L: similarity >= 0.90 + 0.01 L


def audit(similarity: float, wrong: bool, entry: str = "e") -> qb.Audit:
    return qb.Audit(similarity, None, False, wrong, entry, served=True)


def test_clopper_pearson_upper_bounds() -> None:
    assert qb.upper_bound(0, 0) == 1.0
    assert qb.upper_bound(0, 100) == pytest.approx(1 - 0.05 ** (1 / 100))
    assert qb.upper_bound(1, 100) == pytest.approx(0.0466, abs=2e-4)  # tables: 0.0466
    assert qb.upper_bound(5, 1000) == pytest.approx(0.0105, abs=2e-4)
    assert qb.min_audits(0.01) == 299 and qb.upper_bound(0, 299) <= 0.01 < qb.upper_bound(0, 298)


def test_the_ladder_maps_levels_to_settings_and_candidates_to_their_top() -> None:
    ladder = qb.Ladder(threshold=0.845, cutoff=0.80)
    assert ladder.setting(0) == (0.845, 0.80)
    assert ladder.setting(2) == pytest.approx((0.855, 0.84))
    assert ladder.top(0.86, 0.85) == 2 and ladder.top(0.76, 0.99) == qb.NEVER
    assert ladder.top(0.70, 0.10, near_repeat=True) == qb.MAX_LEVEL
    assert not ladder.serves(qb.OFF, 1.0, 1.0)
    assert LADDER.top(0.96, None) == 6


def test_the_ladder_reaches_down_to_even_odds() -> None:
    ladder = qb.Ladder(threshold=0.845, cutoff=0.80)  # the shipped settings
    assert ladder.setting(qb.MIN_LEVEL) == pytest.approx((0.77, 0.50))
    assert ladder.setting(qb.MIN_LEVEL - 1) == ladder.setting(qb.MIN_LEVEL)
    assert ladder.top(0.78, 0.55) == -13  # under the former bottom (-8: 0.805 / 0.64)
    assert ladder.top(0.76, 0.99) == qb.NEVER


def test_nothing_is_served_until_a_level_is_proved_then_it_loosens_one_level_at_a_time() -> None:
    state, delta = qb.BoundState(), 0.05
    assert state.level == qb.OFF and qb.audit_rate(state, delta, 0.1) == 1.0
    levels = []
    for _ in range(qb.min_audits(qb.LOOSEN * delta) - 1):
        qb.observe(state, audit(0.96, wrong=False), LADDER, delta)
        levels.append(state.level)
    assert set(levels) == {qb.OFF}  # 84 right answers cannot prove 3.5% (loosening) yet
    for _ in range(5):
        qb.observe(state, audit(0.96, wrong=False), LADDER, delta)
        levels.append(state.level)
    assert levels[-5:] == [9, 8, 7, 6, 5]  # one level a time (nothing lies below 0.96)


def test_wrong_answers_tighten_at_once_and_agreement_loosens_again() -> None:
    state, delta = qb.BoundState(), 0.05
    for i in range(400):  # right answers spread over levels 0..6
        qb.observe(state, audit(0.90 + 0.01 * (i % 7), wrong=False), LADDER, delta)
    loose = state.level
    assert loose == qb.MIN_LEVEL  # nothing lies below 0.90: the loosest level serves the same
    for i in range(30):  # wrong answers at similarity 0.90-0.91: levels 1 and below fail
        qb.observe(state, audit(0.90 + 0.01 * (i % 2), wrong=True, entry=f"w{i}"), LADDER, delta)
    tight = state.level
    assert tight == 2 and state.bound(tight)[0] <= delta < state.bound(1)[0]
    assert state.wrong == 30 and state.changes >= 1
    for i in range(2000):  # agreement everywhere: the bound at the loose levels falls again
        qb.observe(state, audit(0.90 + 0.01 * (i % 7), wrong=False), LADDER, delta)
    assert state.level < tight
    assert state.bound(state.level)[0] <= qb.LOOSEN * delta


def test_a_failed_audit_tightens_its_entry() -> None:
    state = qb.BoundState()
    qb.observe(state, audit(0.93, wrong=True, entry="sourdough"), LADDER, 0.05)
    assert state.entries == {"sourdough": pytest.approx(0.93, abs=1e-5)}
    qb.observe(state, audit(0.91, wrong=True, entry="sourdough"), LADDER, 0.05)
    assert state.entries["sourdough"] == pytest.approx(0.93, abs=1e-5)  # never loosened


def test_audit_rate_is_capped_and_falls_once_the_bound_is_comfortable() -> None:
    state, delta, cap = qb.BoundState(), 0.05, 0.2
    for _ in range(100):
        qb.observe(state, audit(0.99, wrong=False), LADDER, delta)
    assert state.level < qb.OFF and qb.audit_rate(state, delta, cap) == cap  # thin evidence
    for _ in range(2000):
        qb.observe(state, audit(0.99, wrong=False), LADDER, delta)
    assert qb.audit_rate(state, delta, cap) == pytest.approx(cap / 5)


def test_state_round_trips_and_unreadable_state_is_fresh() -> None:
    state = qb.BoundState()
    for i in range(80):
        qb.observe(state, audit(0.95, wrong=i == 3, entry="x"), LADDER, 0.05)
    back = qb.BoundState.from_raw(state.to_json())
    assert (back.level, back.audits, back.entries, back.audited, back.wrong) == (
        state.level,
        state.audits,
        state.entries,
        80,
        1,
    )
    assert back.counts(0) == state.counts(0) == (1, 80)
    assert qb.BoundState.from_raw(b"{not json").level == qb.OFF


def test_a_state_of_the_former_ladder_is_read_as_fresh() -> None:
    # Format 2 ended the ladder at -8: its `top` of -8 may be lower on this ladder.
    old = b'{"format":2,"level":-8,"audits":[[-8,0],[9,0]],"entries":{},"audited":2,"wrong":0,'
    old += b'"changes":1}'
    state = qb.BoundState.from_raw(old)
    assert (state.level, state.audits, state.audited) == (qb.OFF, [], 0)


def test_the_window_forgets_the_oldest_audits() -> None:
    state = qb.BoundState()
    for i in range(qb.WINDOW + 10):
        qb.observe(state, audit(0.95, wrong=i < 10), LADDER, 0.05)
    assert len(state.audits) == qb.WINDOW and state.counts(0) == (0, qb.WINDOW)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_wrong_rate": 0.0}, "max_wrong_rate=0.0"),
        ({"max_wrong_rate": 1.5}, "max_wrong_rate=1.5"),
        ({"audit_rate": 0.0}, "audit_rate=0.0"),
        ({"audit_rate": 2}, "audit_rate=2"),
    ],
)
def test_settings_are_validated(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CacheConfig(**settings)  # type: ignore[arg-type]
    assert CacheConfig().max_wrong_rate is None  # off by default
