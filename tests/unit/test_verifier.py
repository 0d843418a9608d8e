"""The verifier: its features, its JSON weights, and its place in the lookup (no model)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from tiered_cache import CacheConfig, ConfigurationError, TieredCache
from tiered_cache.rules.features import FEATURE_NAMES, extract_features
from tiered_cache.rules.verifier import WEIGHTS_FILE, Verifier, VerifierWeights, fit_logistic

from .fake_embedder import MapEmbedder


def features(a: str, b: str, cos: float = 0.95) -> dict[str, float]:
    return extract_features(a, b, cos)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I lose 5 kg in a month?", "How do I lose 10 kg in a month?"),
        ("What is the best laptop under $500?", "What is the best laptop under $1000?"),
        ("Best phone under 30k?", "Best phone under 20000?"),
        ("Where can I watch Heartland season 5?", "Where can I watch Heartland season 6?"),
        ("Is a three day trip enough?", "Is a five day trip enough?"),
    ],
)
def test_number_mismatch(a: str, b: str) -> None:
    assert features(a, b)["number_mismatch"] == 1.0
    assert features(b, a)["number_mismatch"] == 1.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Best phone under 30k?", "Best phone under 30000?"),  # same amount, other notation
        ("How can I lose 5 kg in one month?", "How do I lose 5 kg in a month?"),  # "one" = "a"
        ("How do I reset my password?", "How can I reset my password?"),
    ],
)
def test_no_number_mismatch(a: str, b: str) -> None:
    assert features(a, b)["number_mismatch"] == 0.0


def test_years() -> None:
    f = features("Who won the 2016 US election?", "Who won the 2012 US election?")
    assert f["year_mismatch"] == 1.0 and f["number_mismatch"] == 1.0
    assert features("Best movies of 2016?", "Top movies of 2016?")["year_mismatch"] == 0.0


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("Is it safe to eat raw eggs?", "Is it not safe to eat raw eggs?", 1.0),
        ("Why can't I sleep?", "Why can I sleep?", 1.0),
        (
            "What are arguments for selling organs?",
            "What are arguments against selling organs?",
            0.0,
        ),
        ("Why don't I sleep well?", "Why can't I sleep well?", 0.0),
    ],
)
def test_negation_mismatch(a: str, b: str, expected: float) -> None:
    assert features(a, b)["negation_mismatch"] == expected


def test_entities() -> None:
    f = features("Why is Python slow?", "Why is Java slow?")
    assert f["entity_mismatch"] == 1.0 and f["entity_missing"] == 1.0
    same = features("Why is Python slow?", "Why is python so slow?")
    assert same["entity_missing"] == 0.0
    # A sentence's capitalized first word is grammar, not a name; "iPhone" is a name anywhere.
    assert features("Cooking rice: how?", "How to cook rice?")["entity_one_sided"] == 0.0
    assert features("iPhone battery tips?", "Battery tips?")["entity_one_sided"] == 1.0


def test_comparison_targets() -> None:
    f = features(
        "What is the difference between CEO and CFO?", "What is the difference between CEO and CTO?"
    )
    assert f["comparison_mismatch"] == 1.0
    g = features("Python vs Java for beginners?", "Java vs Python for beginners?")
    assert g["comparison_mismatch"] == 0.0
    h = features("Python vs Java?", "Is Python good?")
    assert h["comparison_one_sided"] == 1.0


@pytest.mark.parametrize(
    ("a", "b", "mismatch", "conflict"),
    [
        ("When were digital cameras invented?", "Why were digital cameras invented?", 1.0, 1.0),
        ("When will Puerto Rico become a state?", "Should Puerto Rico become a state?", 1.0, 1.0),
        ("How many people live in Paris?", "How do people live in Paris?", 1.0, 1.0),
        ("Which laptop should I buy?", "What laptop should I buy?", 0.0, 0.0),
        ("I'm 18. How can I make money?", "How can one make money?", 0.0, 0.0),
        ("Datasets can be loaded locally.", "You can load datasets locally.", 0.0, 0.0),
    ],
)
def test_question_type(a: str, b: str, mismatch: float, conflict: float) -> None:
    f = features(a, b)
    assert (f["question_type_mismatch"], f["question_type_conflict"]) == (mismatch, conflict)


def test_features_are_symmetric_and_complete() -> None:
    a, b = "What is the best laptop under $500 in 2016?", "Which laptops are best in 2017?"
    assert features(a, b) == features(b, a)
    assert set(features(a, b)) == set(FEATURE_NAMES)
    same = features(a, a, 1.0)
    assert same["jaccard"] == 1.0 and same["exact_content_match"] == 1.0
    assert same["unmatched_max"] == 0.0


# -- weights --------------------------------------------------------------------------------
def test_shipped_weights_are_plain_json() -> None:
    raw = resources.files("tiered_cache.rules").joinpath(WEIGHTS_FILE).read_bytes()
    data = json.loads(raw)  # JSON, not pickle: a pickle does not parse as JSON
    assert data["model"] == "logistic_regression"
    assert len(data["features"]) == len(data["weights"])
    weights = VerifierWeights.load()
    assert weights == VerifierWeights.from_json(raw)
    assert {"number_mismatch", "negation_mismatch"} <= set(weights.vetoes)
    assert 0.0 < weights.cutoff < 1.0


def test_defaults_agree_with_the_shipped_weights() -> None:
    """The default threshold was chosen together with the shipped cut-off."""
    weights = VerifierWeights.load(judge=True)
    cfg = CacheConfig()
    assert cfg.verifier is True and cfg.verifier_cutoff is None and cfg.threshold is None
    assert cfg.similarity_threshold == weights.threshold
    assert Verifier().cutoff == weights.cutoff
    plain = VerifierWeights.load()
    assert CacheConfig(judge=False).similarity_threshold == plain.threshold == 0.90
    assert Verifier(judge=False).cutoff == plain.cutoff


def test_weights_round_trip_and_load_from_path(tmp_path: Path) -> None:
    w = VerifierWeights(
        ("cosine", "jaccard"), (10.0, -1.0), -8.0, cutoff=0.7, vetoes=("number_mismatch",)
    )
    path = tmp_path / "w.json"
    path.write_text(w.to_json())
    assert VerifierWeights.load(path) == w
    v = Verifier(w)
    assert v.score("a b", "a b", 0.95) == pytest.approx(1 / (1 + np.exp(-(9.5 - 1 - 8))))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x80\x04\x95", "not JSON"),  # a pickle
        (b'{"format": 99}', "format"),
        (b'{"format": 1, "features": ["cosine"], "weights": [1.0]}', "malformed"),
        (
            b'{"format": 1, "features": ["shoe_size"], "weights": [1.0], "bias": 0, "cutoff": 0.5}',
            "unknown feature",
        ),
        (
            b'{"format": 1, "features": ["cosine"], "weights": [1.0, 2.0], "bias": 0, '
            b'"cutoff": 0.5}',
            "one weight per feature",
        ),
        (
            b'{"format": 1, "features": ["cosine"], "weights": [1.0], "bias": 0, "cutoff": 1.5}',
            "cutoff",
        ),
    ],
)
def test_bad_weights_are_configuration_errors(raw: bytes, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        VerifierWeights.from_json(raw)


def test_vetoes_reject_whatever_the_similarity() -> None:
    v = Verifier()
    a, b = "How do I lose 5 kg in a month?", "How do I lose 10 kg in a month?"
    assert v.score(a, b, 0.999) == 0.0
    assert not v.accepts(a, b, 0.999)
    assert v.explain(a, b, 0.999)["veto:number_mismatch"] == float("-inf")
    assert v.accepts("How do I reset my password?", "How can I reset my password?", 0.99)


def test_fit_logistic_recovers_the_signal() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 3))
    logits = 3 * x[:, 0] - 2 * x[:, 1] + 0.5
    y = (rng.random(2000) < 1 / (1 + np.exp(-logits))).astype(float)
    w, b = fit_logistic(x, y, l2=1.0)
    assert w[0] == pytest.approx(3, abs=0.5) and w[1] == pytest.approx(-2, abs=0.5)
    assert abs(w[2]) < 0.3 and b == pytest.approx(0.5, abs=0.3)


# -- in the lookup ----------------------------------------------------------------------------
STORED_5 = "How do I lose 5 kg in a month?"
STORED_OK = "How can I lose ten pounds quickly?"
ASKED = "How do I lose 10 kg in a month?"


def make(emb: MapEmbedder, **settings: object) -> TieredCache:
    return TieredCache(embedder=emb, adaptive_threshold=False, **settings)


def test_verifier_rejects_a_hard_negative_that_cosine_accepts() -> None:
    emb = MapEmbedder()
    emb.pair(STORED_5, ASKED, 0.99)
    for verifier, expected in ((True, None), (False, "five")):
        cache = make(emb, verifier=verifier)
        cache.store(cache.request(STORED_5, model="m"), "five")
        hit = cache.lookup(cache.request(ASKED, model="m"))
        assert (hit.payload if hit else None) == expected
        assert cache.stats()["verifier_rejections"] == (1 if verifier else 0)


def test_candidate_walk_goes_past_a_rejected_neighbour() -> None:
    emb = MapEmbedder()
    emb.pair(ASKED, STORED_5, 0.99)  # nearest, but vetoed (5 kg vs 10 kg)
    emb.pair(ASKED, "How do I lose 10 kg within a month?", 0.98)  # next: a paraphrase
    cache = make(emb)
    cache.store(cache.request(STORED_5, model="m"), "five")
    cache.store(cache.request("How do I lose 10 kg within a month?", model="m"), "ten")
    hit = cache.lookup(cache.request(ASKED, model="m"))
    assert hit is not None and hit.payload == "ten" and hit.tier == "semantic"
    assert hit.similarity == pytest.approx(0.98, abs=1e-5)
    assert hit.partition == cache.request(ASKED, model="m").partition_key
    assert cache.stats()["verifier_rejections"] == 1


def test_verifier_cutoff_setting_wins_over_the_shipped_one() -> None:
    emb = MapEmbedder()
    stored, asked = "How do I reset my password?", "How can I reset my password?"
    emb.pair(stored, asked, 0.97)
    strict = make(emb, verifier_cutoff=1.0)
    strict.store(strict.request(stored, model="m"), "reset")
    assert strict.lookup(strict.request(asked, model="m")) is None
    lenient = make(emb, verifier_cutoff=0.0)
    lenient.store(lenient.request(stored, model="m"), "reset")
    hit = lenient.lookup(lenient.request(asked, model="m"))
    assert hit is not None and hit.payload == "reset"
    assert lenient.stats()["config"]["verifier_cutoff"] == 0.0


def test_config_validation() -> None:
    for bad in ({"verifier_cutoff": 1.5}, {"threshold_min": 0.9, "threshold_max": 0.8}):
        with pytest.raises(ConfigurationError):
            CacheConfig(**bad)  # type: ignore[arg-type]
    assert CacheConfig.from_env({"TIERED_CACHE_VERIFIER": "false"}).verifier is False
    assert CacheConfig.from_env({"TIERED_CACHE_VERIFIER_CUTOFF": "0.7"}).verifier_cutoff == 0.7
