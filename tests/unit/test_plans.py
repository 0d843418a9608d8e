"""The caching decisions as pure generators: stepped by hand, with no backend at all."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from tiered_cache import CacheConfig, CacheEntry, Match
from tiered_cache.engine.flight import Lead
from tiered_cache.engine.ops import (
    AskJudge,
    Compute,
    Delete,
    Embed,
    Follow,
    Get,
    Keep,
    Land,
    Lease,
    Lookup,
    Observe,
    ReadState,
    Search,
    Write,
)
from tiered_cache.engine.plans import CacheHit, Plans
from tiered_cache.observability.stats import Stats
from tiered_cache.request import build_request

CFG = CacheConfig(threshold=0.9, candidates=3, adaptive_threshold=False)
YES, NO = 50.0, -50.0  # a judge's term that settles any candidate one way or the other
VECTOR = np.ones(4, dtype=np.float32) / 2


def plans(semantic: bool = True, cfg: CacheConfig = CFG) -> Plans:
    return Plans.build(lambda: cfg, Stats(), semantic=semantic)


def ask(text: str) -> Any:
    return build_request([{"role": "user", "content": text}], model="m")


def entry(payload: str, question: str = "q") -> tuple[bytes, int]:
    return CacheEntry(payload, question, None).to_json(), 1


def finish(plan: Any, value: Any) -> Any:
    with pytest.raises(StopIteration) as stop:
        plan.send(value)
    return stop.value.value


def test_an_exact_hit_reads_one_key_and_embeds_nothing() -> None:
    req = ask("What is the capital of France?")
    plan = plans().lookup(req)
    assert next(plan) == Get(req.exact_key)
    hit = finish(plan, entry("Paris."))
    assert (hit.payload, hit.tier, hit.similarity) == ("Paris.", "exact", 1.0)


def test_a_semantic_hit_embeds_searches_the_partition_and_reads_the_neighbour() -> None:
    req = ask("What's the capital city of France?")
    plan = plans().lookup(req)
    assert next(plan) == Get(req.exact_key)
    assert plan.send(None) == Embed("What's the capital city of France?")
    search = plan.send(VECTOR)
    assert isinstance(search, Search)
    assert (search.partition, search.k) == (req.partition_key, 3)
    neighbour = Match("stored", 0.96, "What is the capital of France?")
    assert plan.send([neighbour]) == AskJudge(req.query_text, "What is the capital of France?")
    assert plan.send(YES) == Get("stored")  # the judge's term decides
    hit = finish(plan, entry("Paris.", "What is the capital of France?"))
    assert (hit.payload, hit.tier, hit.similarity) == ("Paris.", "semantic", 0.96)
    assert hit.matched_query == "What is the capital of France?"


def test_the_adaptive_threshold_reads_its_shared_state_once_a_neighbour_is_close() -> None:
    req = ask("What's the capital city of France?")
    plan = plans(cfg=CFG.replace(adaptive_threshold=True)).lookup(req)
    next(plan)
    plan.send(None)
    plan.send(VECTOR)
    state = plan.send([Match("stored", 0.96, "What is the capital of France?")])
    assert state == ReadState("threshold:global")
    assert isinstance(plan.send(None), AskJudge)  # no state yet: the configured threshold
    assert plan.send(YES) == Get("stored")


def test_a_candidate_the_judge_rejects_is_never_read() -> None:
    req = ask("What's the capital city of France?")
    cache_plans = plans()
    plan = cache_plans.lookup(req)
    next(plan)
    plan.send(None)
    plan.send(VECTOR)
    assert isinstance(
        plan.send([Match("stored", 0.96, "What is the capital of France?")]), AskJudge
    )
    assert finish(plan, NO) is None  # no Get: the next step would have read the entry
    assert cache_plans.stats.snapshot()["judge_calls"] == 1


def test_the_judge_is_asked_about_the_most_promising_candidates_only() -> None:
    req = ask("What's the capital city of France?")
    stored = "What is the capital of France?"
    # Out of similarity order on purpose: the features' score decides who is asked first.
    close = [Match("c", 0.93, stored), Match("a", 0.96, stored), Match("b", 0.95, stored)]
    for max_calls, answers, served in ((1, [NO], None), (2, [NO, YES], "b")):
        cache_plans = plans(cfg=CFG.replace(judge_max_calls=max_calls))
        plan = cache_plans.lookup(req)
        next(plan)
        plan.send(None)
        plan.send(VECTOR)
        step = plan.send(close)
        for answer in answers[:-1]:
            assert step == AskJudge(req.query_text, stored)
            step = plan.send(answer)
        assert step == AskJudge(req.query_text, stored)
        if served is None:
            assert finish(plan, answers[-1]) is None  # the rest were never asked, nor served
        else:
            assert plan.send(answers[-1]) == Get(served)  # "a" was asked first, then "b"
            hit = finish(plan, entry("Paris.", stored))
            assert (hit.payload, hit.similarity) == ("Paris.", 0.95)
        counts = cache_plans.stats.snapshot()
        assert counts["judge_calls"] == max_calls
        assert counts["judge_skips"] == 3 - max_calls  # kept from the judge by the cap


def test_neighbours_below_the_threshold_or_rejected_are_never_read() -> None:
    req = ask("How do I lose 10 kg in a month?")
    plan = plans().lookup(req)
    next(plan)
    plan.send(None)
    plan.send(VECTOR)
    rejected = Match("five", 0.97, "How do I lose 5 kg in a month?")  # the verifier vetoes
    below = Match("far", 0.8, "How do I lose 10 kg in a year?")
    far = Match("farther", 0.4, "How do I lose 10 kg in a month?")  # below the near-repeat floor
    assert finish(plan, [rejected, below, far]) is None


def test_a_near_repeat_below_the_threshold_is_read() -> None:
    req = ask("How do I reset the pasword of my routr?")
    plan = plans().lookup(req)
    next(plan)
    plan.send(None)
    plan.send(VECTOR)
    retyped = Match("typed", 0.49, "How do I reset the password of my router?")
    assert plan.send([retyped]) == Get("typed")


def test_a_corrupt_exact_entry_is_deleted_and_the_lookup_goes_on() -> None:
    req = ask("hello")
    plan = plans(semantic=False).lookup(req)
    next(plan)
    assert plan.send((b"\x80not json", 1)) == Delete(req.exact_key)
    assert finish(plan, None) is None


def test_a_vanished_neighbour_loses_its_vector() -> None:
    req = ask("What's the capital city of France?")
    plan = plans().lookup(req)
    next(plan)
    plan.send(None)
    plan.send(VECTOR)
    assert isinstance(plan.send([Match("gone", 0.96, "What is the capital of France?")]), AskJudge)
    assert plan.send(YES) == Get("gone")
    assert plan.send(None) == Delete("gone")
    assert finish(plan, None) is None


def test_a_hot_request_is_exact_only() -> None:
    req = build_request(
        [{"role": "user", "content": "Write a poem."}], model="m", params={"temperature": 0.9}
    )
    plan = plans().lookup(req)
    next(plan)
    assert finish(plan, None) is None  # no Embed: never compared by meaning
    store = plans().store(req, "roses", None, None)
    write = next(store)
    assert isinstance(write, Write) and write.vector is None


def test_store_embeds_first_then_writes_entry_and_vector_together() -> None:
    req = ask("What is the capital of France?")
    plan = plans().store(req, "Paris.", {"total_tokens": 9}, 60)
    assert next(plan) == Embed("What is the capital of France?")
    write = plan.send(VECTOR)
    assert isinstance(write, Write)
    assert (write.entry.key, write.entry.ttl) == (req.exact_key, 60)
    assert write.vector is not None and write.vector.partition == req.partition_key
    assert CacheEntry.from_json(write.entry.value).usage == {"total_tokens": 9}
    assert finish(plan, None) is True


def test_get_or_compute_leads_leases_computes_keeps_releases_and_lands() -> None:
    req = ask("expensive")
    plan = plans().compute(req, None)
    assert next(plan) == Lookup(req)
    follow = plan.send(None)
    assert isinstance(follow, Follow) and follow.key == req.exact_key
    lead = Lead(req.exact_key, "me", threading.Event(), float("inf"), req.exact_key)
    lease = plan.send(lead)
    assert isinstance(lease, Lease) and lease.acquire
    assert plan.send(True) == Lookup(req, exact_only=True)  # stored since the first lookup?
    observe = plan.send(None)
    assert isinstance(observe, Observe) and observe.hit is None  # one miss, counted once
    assert plan.send(None) == Compute()
    keep = plan.send(("answer", {"total_tokens": 3}))
    assert isinstance(keep, Keep) and keep.served.payload == "answer"
    release = plan.send(None)
    assert isinstance(release, Lease) and not release.acquire and release.token == lease.token
    assert plan.send(None) == Land(lead)
    served = finish(plan, None)
    assert (served.payload, served.hit, served.usage) == ("answer", None, {"total_tokens": 3})


def test_a_failing_compute_still_releases_the_lease_and_wakes_followers() -> None:
    req = ask("expensive")
    plan = plans().compute(req, None)
    next(plan)
    plan.send(None)
    lead = Lead(req.exact_key, "me", threading.Event(), float("inf"), req.exact_key)
    lease = plan.send(lead)
    plan.send(True)  # the second lookup
    plan.send(None)  # Observe
    assert plan.send(None) == Compute()
    release = plan.throw(RuntimeError("model down"))
    assert isinstance(release, Lease) and release.token == lease.token and not release.acquire
    assert plan.send(None) == Land(lead)
    with pytest.raises(RuntimeError, match="model down"):
        plan.send(None)


def test_a_follower_serves_the_leaders_answer_as_one_coalesced_hit() -> None:
    req = ask("expensive")
    plan = plans().led(req)
    assert next(plan) == Lookup(req)
    assert isinstance(plan.send(None), Follow)
    assert plan.send(None) == Lookup(req)  # woken by the leader: look again
    answer = plans().entry(entry("the answer", "expensive"))
    assert answer is not None
    observe = plan.send(CacheHit("the answer", "exact", 1.0, "expensive", answer))
    assert isinstance(observe, Observe)
    assert (observe.hit.payload, observe.hit.tier, observe.hit.coalesced) == (
        "the answer",
        "exact",
        True,
    )
    hit, lead = finish(plan, None)
    assert (hit.payload, hit.coalesced, lead) == ("the answer", True, None)


def test_a_follower_leads_when_its_leader_failed() -> None:
    req = ask("expensive")
    plan = plans().led(req)
    next(plan)
    plan.send(None)  # Follow: another caller leads
    assert plan.send(None) == Lookup(req)  # the leader landed without an answer
    follow = plan.send(None)
    assert isinstance(follow, Follow) and follow.key == req.exact_key
    lead = Lead(req.exact_key, "me", threading.Event(), float("inf"), req.exact_key)
    assert isinstance(plan.send(lead), Lease)
    assert plan.send(True) == Lookup(req, exact_only=True)  # L1: the key it now leads
    observe = plan.send(None)
    assert isinstance(observe, Observe) and observe.hit is None
    assert finish(plan, None) == (None, lead)
