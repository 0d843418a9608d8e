"""Build the duplicate judge's int8 graph that the package ships, and measure it against NumPy.

    python -m training.export_judge_onnx --ship              # write rules/judge/judge-int8.onnx
    python -m training.export_judge_onnx --agreement 2000    # + logits vs NumPy fp32, AUC
    python -m training.export_judge_onnx --speed 300         # + per-pair latency, interleaved

The graph holds the judge's layers, not its embeddings: its input `hidden` [batch, length, 384]
is what `Judge.embed` computes (word + position + segment rows, layer norm: the vocabulary stays
in the shared encoder graph, read by row), its output `logit` [batch] what `Judge.logit` returns
before the clip. Each layer is the merged arrays the NumPy judge holds (LoRA folded in, QKV
fused): fused QKV, 12 heads, softmax, residual + layer norm, tanh GELU (`FastGelu`), residual +
layer norm; then the mean of the last hidden states and the linear head.

Its four weight products per layer are int8 (`onnxruntime.quantization.quantize_dynamic`: QInt8
weights per output channel, activations quantized per call; ONNX Runtime runs them as
`DynamicQuantizeMatMul`, on VNNI where the CPU has it); the attention's own products and the
head stay fp32. A pair is run alone (batch 1): activations are quantized per call over the whole
input, so a pair judged beside others would get a slightly different logit.

Needs `onnx` (the `torch` extra); the package only reads the file. The card (`judge.json`) records
the sha256 of the `judge.npz` the graph was built from: a judge retrained without rebuilding the
graph is run in NumPy fp32, with a warning. docs/int8.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from tiered_cache.rules import judge as judge_module

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "qqp_labeled_dev.jsonl"
OPSET = 17  # LayerNormalization
SHIPPED = judge_module._shipped_dir() / judge_module.INT8_GRAPH


def build_graph(judge: judge_module.Judge) -> Any:
    """The fp32 ONNX model of the judge's layers and head (input `hidden`, output `logit`)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: Any, dtype: Any = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(op: str, inputs: list[str], name: str, domain: str = "", **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, domain=domain, **attrs))
        return name

    blocks = judge.merged_blocks()
    hidden = int(blocks[0]["qkv"].shape[0])
    heads = judge.heads
    size = hidden // heads
    split = const("qkv.shape", [0, 0, 3, heads, size], np.int64)
    merge = const("ctx.shape", [0, 0, hidden], np.int64)
    scale = const("attention.scale", 1.0 / math.sqrt(size))
    x = "hidden"
    for i, b in enumerate(blocks):
        p = f"layer.{i}"

        def product(inp: str, name: str, p: str = p, b: dict[str, Any] = b) -> str:
            return node("MatMul", [inp, const(f"{p}.{name}.weight", b[name])], f"{p}.{name}")

        def norm(inp: str, name: str, p: str = p, b: dict[str, Any] = b) -> str:
            w, bias = (
                const(f"{p}.{name}.w", b[f"{name}.weight"]),
                const(f"{p}.{name}.b", b[f"{name}.bias"]),
            )
            return node("LayerNormalization", [inp, w, bias], f"{p}.{name}", epsilon=1e-12)

        qkv = node("Add", [product(x, "qkv"), const(f"{p}.qkv.bias", b["qkv.bias"])], f"{p}.qkvb")
        qkv = node("Reshape", [qkv, split], f"{p}.qkv.split")
        qkv = node("Transpose", [qkv], f"{p}.qkv.heads", perm=[2, 0, 3, 1, 4])  # 3,B,h,T,d
        q, k, v = (
            node("Gather", [qkv, const(f"{p}.{n}.index", j, np.int64)], f"{p}.{n}", axis=0)
            for j, n in enumerate("qkv")
        )
        k = node("Transpose", [k], f"{p}.k.t", perm=[0, 1, 3, 2])
        s = node("Mul", [node("MatMul", [q, k], f"{p}.scores"), scale], f"{p}.scaled")
        s = node("Softmax", [s], f"{p}.probs", axis=-1)
        ctx = node(
            "Transpose", [node("MatMul", [s, v], f"{p}.ctx")], f"{p}.ctx.t", perm=[0, 2, 1, 3]
        )
        ctx = node("Reshape", [ctx, merge], f"{p}.ctx.merged")
        out = node(
            "Add",
            [product(ctx, "attention_out"), const(f"{p}.ao.bias", b["attention_out.bias"])],
            f"{p}.ao",
        )
        x = norm(node("Add", [x, out], f"{p}.attention.residual"), "attention.output.LayerNorm")
        h = node(
            "FastGelu",
            [product(x, "intermediate"), const(f"{p}.in.bias", b["intermediate.bias"])],
            f"{p}.gelu",
            domain="com.microsoft",
        )
        out = node(
            "Add", [product(h, "output"), const(f"{p}.out.bias", b["output.bias"])], f"{p}.o"
        )
        x = norm(node("Add", [x, out], f"{p}.output.residual"), "output.LayerNorm")
    pooled = node("ReduceMean", [x], "pool", axes=[1], keepdims=0)
    logit = node("MatMul", [pooled, const("head.weight", judge.head.reshape(-1, 1))], "head")
    logit = node("Add", [logit, const("head.bias", [judge.head_bias])], "head.add")
    nodes.append(helper.make_node("Squeeze", [logit, const("head.axis", [1], np.int64)], ["logit"]))
    graph = helper.make_graph(
        nodes,
        f"judge-{judge.version}",
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", hidden])],
        [helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["batch"])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)],
        producer_name="tiered-cache training.export_judge_onnx",
    )
    model.ir_version = 8  # readable by any ONNX Runtime that knows opset 17
    onnx.checker.check_model(model)
    return model


def quantize(source: Path, target: Path) -> Path:
    """Every layer's weight products int8, per output channel; the head (384 x 1) stays fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=["head"],
        extra_options={
            "MatMulConstBOnly": True,  # never the attention's own products
            "DefaultTensorType": 1,  # FLOAT: shape inference stops at FastGelu (com.microsoft)
        },
    )
    return target


def ship(judge: judge_module.Judge, target: Path = SHIPPED) -> dict[str, Any]:
    """Write the int8 graph next to the judge's weights and record it in the card."""
    import onnx

    fp32 = target.with_name("judge-fp32.tmp.onnx")
    onnx.save(build_graph(judge), str(fp32))
    try:
        quantize(fp32, target)
    finally:
        fp32.unlink()
    card_path = target.with_name(judge_module.CARD)
    card = json.loads(card_path.read_text())
    card["int8_graph"] = {
        "file": target.name,
        "built_from": judge_module.weights_digest(target.parent),
        "built_by": "python -m training.export_judge_onnx --ship",
        "bytes": target.stat().st_size,
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    judge_module.card.cache_clear()
    return dict(card["int8_graph"])


def read_pairs(n: int, skip: int = 0) -> tuple[list[tuple[str, str]], np.ndarray[Any, Any]]:
    pairs, labels = [], []
    with DEV.open() as f:
        for i, line in enumerate(f):
            if i < skip:
                continue
            row = json.loads(line)
            pairs.append((row["a"], row["b"]))
            labels.append(bool(row["duplicate"]))
            if len(pairs) == n:
                break
    return pairs, np.array(labels)


def auc(scores: np.ndarray[Any, Any], labels: np.ndarray[Any, Any]) -> float:
    """Area under the ROC curve (Mann-Whitney; ties counted half)."""
    pos, neg = scores[labels], scores[~labels]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def agreement(n: int) -> dict[str, Any]:
    """Logits of the int8 judge against NumPy fp32 on the first `n` dev pairs."""
    fp32, int8 = judge_module.load(precision="fp32"), judge_module.load(precision="int8")
    pairs, labels = read_pairs(n)
    ref = np.array([fp32.logit(a, b) for a, b in pairs])
    got = np.array([int8.logit(a, b) for a, b in pairs])
    diff = np.abs(got - ref)
    cuts = {f"p{q}": float(np.percentile(ref, q)) for q in (25, 50, 75)}
    return {
        "pairs": n,
        "max_abs": float(diff.max()),
        "mean_abs": float(diff.mean()),
        "p99_abs": float(np.percentile(diff, 99)),
        "auc_fp32": auc(ref, labels),
        "auc_int8": auc(got, labels),
        "flips": {c: int(((ref > t) != (got > t)).sum()) for c, t in cuts.items()},
    }


def speed(calls: int) -> dict[str, Any]:
    """Per-pair latency, tokenization included, the two precisions in turn on the same pair."""
    judges = {p: judge_module.load(precision=p) for p in ("fp32", "int8")}
    pairs, _ = read_pairs(calls, skip=1000)
    for j in judges.values():
        for a, b in pairs[:10]:
            j.logit(a, b)
    times: dict[str, list[float]] = {p: [] for p in judges}
    for r, (a, b) in enumerate(pairs):
        order = list(judges) if r % 2 else list(reversed(judges))
        for p in order:
            t0 = time.perf_counter()
            judges[p].logit(a, b)
            times[p].append(time.perf_counter() - t0)
    out: dict[str, Any] = {"calls": calls}
    for p, t in times.items():
        ms = np.array(t) * 1e3
        out[p] = {"p50_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95))}
    out["int8_vs_fp32_p50"] = out["int8"]["p50_ms"] / out["fp32"]["p50_ms"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ship", action="store_true", help="(re)build the shipped int8 graph")
    parser.add_argument("--agreement", type=int, default=0, help="dev pairs to compare")
    parser.add_argument("--speed", type=int, default=0, help="timed pairs per precision")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    if args.ship:
        report["shipped"] = ship(judge_module.load(precision="fp32"))
        print(json.dumps(report["shipped"]), flush=True)
    if args.agreement:
        report["agreement"] = agreement(args.agreement)
        print(json.dumps(report["agreement"], indent=1), flush=True)
    if args.speed:
        report["speed"] = speed(args.speed)
        print(json.dumps(report["speed"], indent=1), flush=True)


if __name__ == "__main__":
    main()
