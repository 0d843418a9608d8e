"""The ONNX encoder against sentence-transformers on PyTorch, on the QQP dev file (all of it):

    python -m benchmarks.onnx_agreement

Encoders: ONNX fp32 (the shipped graph), ONNX int8 (`quantize_graph`), PyTorch. Prints the
cosine between each ONNX vector and the PyTorch one of every text (min, p0.1), the share of
pairs whose hit/miss decision (cosine >= threshold, then the verifier) is the same, hit rate
on duplicates and precision under each, single-query p50 latency, model load time and the
process RSS after each load. Writes benchmarks/results/onnx_agreement.json.
"""

from __future__ import annotations

import resource
import statistics
import time
from typing import Any

import numpy as np
from tiered_cache.embeddings.embedder import SentenceTransformerEmbedder
from tiered_cache.embeddings.onnx import OnnxEmbedder
from tiered_cache.rules.verifier import Verifier

from ._common import load_qqp, print_table, write_json

THRESHOLD = 0.90


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def decisions(rows: list[dict[str, Any]], index: dict[str, int], vectors: Any) -> list[bool]:
    verifier = Verifier()
    out = []
    for r in rows:
        cos = float(vectors[index[r["a"]]] @ vectors[index[r["b"]]])
        out.append(cos >= THRESHOLD and verifier.accepts(r["b"], r["a"], cos))
    return out


def main() -> None:
    rows = load_qqp()
    texts = list(dict.fromkeys(t for r in rows for t in (r["a"], r["b"])))
    index = {t: i for i, t in enumerate(texts)}
    results: dict[str, Any] = {}
    vectors = {}
    encoders = (
        ("onnx", OnnxEmbedder()),
        ("onnx-int8", OnnxEmbedder(quantized=True)),
        ("torch", SentenceTransformerEmbedder()),
    )
    for name, embedder in encoders:
        started = time.perf_counter()
        embedder.encode(["warm up"])
        load_s = time.perf_counter() - started
        singles = []
        for text in texts[:300]:
            t = time.perf_counter()
            embedder.encode([text])
            singles.append(time.perf_counter() - t)
        started = time.perf_counter()
        vectors[name] = np.concatenate(
            [embedder.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)]
        )
        results[name] = {
            "load_s": load_s,
            "single_query_p50_ms": 1e3 * statistics.median(singles),
            "encode_all_s": time.perf_counter() - started,
            "max_rss_mb_after": rss_mb(),
        }
    hits = {name: decisions(rows, index, v) for name, v in vectors.items()}
    for name in vectors:
        dup_hits = sum(h for h, r in zip(hits[name], rows, strict=True) if r["duplicate"])
        all_hits = sum(hits[name])
        results[name]["hit_rate_dup"] = dup_hits / sum(r["duplicate"] for r in rows)
        results[name]["precision"] = dup_hits / all_hits if all_hits else 0.0
    for name in ("onnx", "onnx-int8"):
        cos = (vectors[name] * vectors["torch"]).sum(axis=1)
        same = sum(a == b for a, b in zip(hits[name], hits["torch"], strict=True)) / len(rows)
        results[name]["min_cosine_to_torch"] = float(cos.min())
        results[name]["p0.1_cosine_to_torch"] = float(np.percentile(cos, 0.1))
        results[name]["same_decision_as_torch"] = same
    results["agreement"] = {"texts": len(texts), "pairs": len(rows)}
    columns = ["encoder", "load_s", "single_query_p50_ms", "encode_all_s", "max_rss_mb_after"]
    columns += ["hit_rate_dup", "precision", "min_cosine_to_torch", "same_decision_as_torch"]
    print_table(
        "ONNX Runtime vs PyTorch (all-MiniLM-L6-v2, QQP dev file)",
        [{"encoder": k, **v} for k, v in results.items() if k != "agreement"],
        columns,
    )
    a = results["agreement"]
    for name in ("onnx", "onnx-int8"):
        r = results[name]
        print(
            f"{name}: cosine to the PyTorch vector of each of {a['texts']} texts: min "
            f"{r['min_cosine_to_torch']:.7f}; same hit/miss decision for "
            f"{100 * r['same_decision_as_torch']:.2f}% of {a['pairs']} pairs"
        )
    print(f"JSON: {write_json('onnx_agreement', results)}")


if __name__ == "__main__":
    main()
