"""The judge: a small cross-encoder that reads a query and a stored question together.

Cosine similarity compares two vectors made apart; the judge reads "[CLS] query [SEP] stored
[SEP]" at once, so its attention compares the two questions word by word. It is the first
`layers` layers of all-MiniLM-L6-v2 with low-rank adapters and a linear head, trained on QQP
pairs by `python -m training.train_judge` (the card `judge/judge.json` says how and what it
measured). The verifier feeds its logit into its logistic regression, and only calls it when the
answer could change the decision (`Verifier.accepts`), so most lookups never pay for it.

No PyTorch at run time. The embeddings are read from the packaged ONNX graph of the embedding
model (its vocabulary matrix row by row as texts need them: `embeddings.weights.Rows`) and from
what training changed (`judge/judge.npz`, float16, a couple of MB). The layers run in int8 on
ONNX Runtime (`judge/judge-int8.onnx`, built from the same weights by `python -m
training.export_judge_onnx --ship`: about half the time of fp32, weights a quarter the size), or
in NumPy fp32 with the adapters merged into the encoder's weights: with `precision="fp32"`
(`TIERED_CACHE_JUDGE_PRECISION=fp32`), or for a judge whose graph was not rebuilt. The verifier's
weights are fitted on the logits of the precision that ships (docs/int8.md).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import background
from ..embeddings.weights import onnx_initializers, onnx_rows
from ..errors import ConfigurationError, ModelNotFoundError

logger = logging.getLogger(__name__)
Array = npt.NDArray[np.float32]
CARD = "judge.json"
WEIGHTS = "judge.npz"
INT8_GRAPH = "judge-int8.onnx"
PRECISIONS = ("int8", "fp32")
PRECISION_ENV = "TIERED_CACHE_JUDGE_PRECISION"
_LINEARS = ("query", "key", "value", "attention_out", "intermediate", "output")


def _layer_norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(-1, keepdims=True)
    x = x - mean
    var = (x * x).mean(-1, keepdims=True)
    out: Array = x / np.sqrt(var + 1e-12) * weight + bias
    return out


def _gelu(x: Array) -> Array:
    # The tanh form of GELU: within 1e-3 of the exact one BERT was trained with.
    inner = x * x
    inner *= 0.044715 * x
    inner += x
    inner *= 0.7978845608
    np.tanh(inner, out=inner)
    inner += 1.0
    inner *= 0.5 * x
    return inner


def _merge(card: dict[str, Any], trained: dict[str, Array], base: dict[str, Any]) -> list[Any]:
    """Each layer's fp32 arrays: the encoder's weights with the adapters added, QKV fused."""
    get = {**base, **trained}.__getitem__
    scale = float(card["alpha"]) / float(card["rank"])
    blocks: list[dict[str, Array]] = []
    for i in range(int(card["layers"])):
        block: dict[str, Array] = {}
        for name in _LINEARS:
            p = f"layer.{i}.{name}"
            # ONNX keeps W transposed (x @ W.T); the adapter adds scale * B @ A to W.
            delta = scale * (get(f"{p}.lora_b") @ get(f"{p}.lora_a")).T
            weight = base[card["onnx_weights"][f"{p}.weight"]]  # a copy: merged in place
            weight += delta.astype(np.float32)
            block[name] = weight
            block[f"{name}.bias"] = get(f"{p}.bias")
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            block[f"{norm}.weight"] = get(f"layer.{i}.{norm}.weight")
            block[f"{norm}.bias"] = get(f"layer.{i}.{norm}.bias")
        # query, key and value in one product (one call instead of three)
        block["qkv"] = np.concatenate([block.pop(n) for n in _LINEARS[:3]], axis=1)
        block["qkv.bias"] = np.concatenate([block.pop(f"{n}.bias") for n in _LINEARS[:3]])
        blocks.append(block)
    return blocks


class Judge:
    """Logit that a query and a stored question are duplicates (the pair's order matters a
    little: the query goes first, as in training). `session` runs the layers in int8 on ONNX
    Runtime; without one they run in NumPy fp32."""

    def __init__(
        self,
        card: dict[str, Any],
        trained: dict[str, Array],
        base: dict[str, Any],
        session: Any = None,
    ):
        from tokenizers import Tokenizer

        self.card = card
        self.version = str(card["version"])
        self.heads = int(card["heads"])
        self.layers = int(card["layers"])
        self.logit_range = (float(card["logit_range"][0]), float(card["logit_range"][1]))
        self.precision = "fp32" if session is None else "int8"
        self._session = session
        get = {**base, **trained}.__getitem__
        self.words = get("embeddings.word_embeddings.weight")
        self.positions = get("embeddings.position_embeddings.weight")
        self.segments = get("embeddings.token_type_embeddings.weight")
        self.norm = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self.blocks: list[dict[str, Array]] = []
        if session is None:
            self.blocks = _merge(card, trained, base)
        self.head = get("head.weight").reshape(-1)
        self.head_bias = float(get("head.bias").reshape(-1)[0])
        tokenizer = Tokenizer.from_file(str(_model_dir() / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=int(card["max_len"]), strategy="longest_first")
        self.tokenizer = tokenizer
        self._combined = _Combined(self)

    def merged_blocks(self) -> list[dict[str, Array]]:
        """Each layer's arrays with the adapters merged (what the fp32 forward pass uses)."""
        if not self.blocks:
            raise ConfigurationError("an int8 judge holds no fp32 layers: load(precision='fp32')")
        return self.blocks

    def logit(self, query: str, candidate: str) -> float:
        return self.logits([(query, candidate)])[0]

    def logits(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The logits of several pairs in one pass, each what it is alone. In fp32 every
        product of a layer runs on all the pairs' tokens at once (one larger product uses the
        cores better than several small ones) and attention stays within each pair, so nothing
        is padded. In int8 each pair is its own run: activations are quantized per run, over
        all it holds, so a pair judged beside others would get a slightly different logit."""
        encodings = [self.tokenizer.encode(query, candidate) for query, candidate in pairs]
        lengths = [len(e.ids) for e in encodings]
        bounds = np.cumsum([0, *lengths]).tolist()
        ids = np.concatenate([np.asarray(e.ids) for e in encodings])
        types = np.concatenate([np.asarray(e.type_ids) for e in encodings])
        where = np.concatenate([np.arange(n) for n in lengths])
        x = self.words[ids] + self.positions[where] + self.segments[types]
        x = _layer_norm(x, *self.norm)
        if self._session is not None:
            run = self._session.run
            return [
                float(run(None, {"hidden": x[None, start:end]})[0][0])
                for start, end in itertools.pairwise(bounds)
            ]
        heads = self.heads
        size = x.shape[1] // heads
        scale = 1.0 / math.sqrt(size)  # a Python float: keeps float32
        for b in self.blocks:
            qkv = x @ b["qkv"] + b["qkv.bias"]
            ctx = np.empty_like(x)
            for start, end in itertools.pairwise(bounds):
                t = end - start
                one = qkv[start:end].reshape(t, 3, heads, size)
                q = one[:, 0].transpose(1, 0, 2)
                k = one[:, 1].transpose(1, 2, 0)
                v = one[:, 2].transpose(1, 0, 2)
                att = (q @ k) * scale
                att = np.exp(att - att.max(-1, keepdims=True))
                att /= att.sum(-1, keepdims=True)
                ctx[start:end] = (att @ v).transpose(1, 0, 2).reshape(t, heads * size)
            x = _layer_norm(
                x + ctx @ b["attention_out"] + b["attention_out.bias"],
                b["attention.output.LayerNorm.weight"],
                b["attention.output.LayerNorm.bias"],
            )
            h = _gelu(x @ b["intermediate"] + b["intermediate.bias"])
            x = _layer_norm(
                x + h @ b["output"] + b["output.bias"],
                b["output.LayerNorm.weight"],
                b["output.LayerNorm.bias"],
            )
        return [
            float(x[start:end].mean(0) @ self.head) + self.head_bias
            for start, end in itertools.pairwise(bounds)
        ]

    def bounded_logit(self, query: str, candidate: str) -> float:
        """The logit clipped to the range seen in training: the verifier's skip rule relies on
        the judge never moving a score further than that. Concurrent callers' pairs are judged
        together (`_Combined`)."""
        low, high = self.logit_range
        return min(high, max(low, self._combined.logit(query, candidate)))


class _Slot:
    __slots__ = ("error", "pair", "value")

    def __init__(self, pair: tuple[str, str]) -> None:
        self.pair = pair
        self.value: float | None = None
        self.error: BaseException | None = None


class _Combined:
    """Pairs asked for by concurrent threads, judged in one `logits` pass. A caller that finds
    the judge idle judges every pair waiting (its own among them) and hands each caller its
    result; callers that arrive meanwhile wait and form the next pass. One pass at a time also
    keeps concurrent lookups from fighting over the cores: with NumPy's BLAS on both cores,
    four threads each judging alone managed 48-56 pairs/s where one managed 85."""

    MAX_PAIRS = 16

    def __init__(self, judge: Judge) -> None:
        self._judge = judge
        self._forked()
        # A child forked during a pass has no thread to finish it: it starts idle.
        again = weakref.WeakMethod(self._forked)
        os.register_at_fork(after_in_child=lambda: None if (f := again()) is None else f())

    def _forked(self) -> None:
        self._changed = threading.Condition()
        self._waiting: list[_Slot] = []
        self._busy = False

    def logit(self, query: str, candidate: str) -> float:
        slot = _Slot((query, candidate))
        with self._changed:
            self._waiting.append(slot)
        while True:
            with self._changed:
                while self._busy and slot.value is None and slot.error is None:
                    self._changed.wait()
                if slot.error is not None:
                    raise slot.error
                if slot.value is not None:
                    return slot.value
                self._busy = True
                batch = self._waiting[: self.MAX_PAIRS]
                del self._waiting[: self.MAX_PAIRS]
            try:
                values = self._judge.logits([s.pair for s in batch])
                for s, value in zip(batch, values, strict=True):
                    s.value = value
            except BaseException as exc:
                for s in batch:
                    s.error = exc
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()


def _model_dir() -> Path:
    from ..embeddings.onnx import SHIPPED

    return SHIPPED


def _shipped_dir() -> Path:
    return Path(str(resources.files("tiered_cache.rules").joinpath("judge")))


@functools.lru_cache(maxsize=4)
def card(directory: Path | None = None) -> dict[str, Any]:
    """The judge's card (version, layers, logit range, figures): cheap, no weights read."""
    root = directory or _shipped_dir()
    try:
        out: dict[str, Any] = json.loads((root / CARD).read_text())
    except FileNotFoundError as exc:
        raise ModelNotFoundError(f"no judge in {root}: {exc}") from exc
    except ValueError as exc:
        raise ConfigurationError(f"judge card in {root} is not JSON: {exc}") from exc
    return out


def weights_digest(directory: Path | None = None) -> str:
    """sha256 of a judge's `judge.npz`: the card names the one its int8 graph was built from."""
    root = directory or _shipped_dir()
    try:
        return hashlib.sha256((root / WEIGHTS).read_bytes()).hexdigest()
    except FileNotFoundError as exc:
        raise ModelNotFoundError(f"no judge in {root}: {exc}") from exc


def precision_wanted(precision: str | None = None) -> str | None:
    """`precision`, else `TIERED_CACHE_JUDGE_PRECISION`, else None (int8 where it can run)."""
    wanted = precision or os.environ.get(PRECISION_ENV) or None
    if wanted is not None and wanted not in PRECISIONS:
        raise ConfigurationError(
            f"judge precision must be one of {', '.join(PRECISIONS)}, got {wanted!r}"
            + ("" if precision else f" (from {PRECISION_ENV})")
        )
    return wanted


def _int8_session(root: Path, meta: dict[str, Any], wanted: str | None) -> Any:
    """The int8 layers on ONNX Runtime, or None: fp32 asked for, or (unless int8 was asked
    for, which then raises) no graph built from these weights."""
    if wanted == "fp32":
        return None
    graph = meta.get("int8_graph") or {}
    path = root / str(graph.get("file", INT8_GRAPH))
    problem = ""
    if not graph or not path.is_file():
        problem = f"no int8 graph in {root}"
    elif graph.get("built_from") != weights_digest(root):
        problem = (
            f"{path.name} was built from other weights than {root / WEIGHTS} "
            "(rebuild it: python -m training.export_judge_onnx --ship)"
        )
    if problem:
        if wanted == "int8":
            raise ModelNotFoundError(f"judge precision int8: {problem}")
        logger.warning("tiered_cache: %s; the judge runs in NumPy fp32", problem)
        return None
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelNotFoundError(
            "the judge needs ONNX Runtime: pip install 'tiered-cache[embeddings]'"
        ) from exc
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.inter_op_num_threads = 1
    # One thread: a pair's products are too small to split (two threads measured 3.2 ms a pair
    # against 3.0), and the encoder keeps the other core for a concurrent lookup's question.
    options.intra_op_num_threads = 1
    # As the encoder's session: no busy-waiting between calls (embeddings/onnx.py says why).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load(directory: Path | None = None, precision: str | None = None) -> Judge:
    """The judge in `directory` (default: the one shipped in the package), its layers in
    `precision` ("int8", "fp32"; default: `TIERED_CACHE_JUDGE_PRECISION`, else int8 where its
    graph was built from these weights, fp32 otherwise)."""
    root = directory or _shipped_dir()
    meta = card(directory)
    wanted = precision_wanted(precision)
    try:
        with np.load(root / WEIGHTS, allow_pickle=False) as saved:
            trained = {k: saved[k].astype(np.float32) for k in saved.files}
    except FileNotFoundError as exc:
        raise ModelNotFoundError(f"no judge in {root}: {exc}") from exc
    except (ValueError, KeyError) as exc:
        raise ConfigurationError(f"judge in {root} is malformed: {exc}") from exc
    session = _int8_session(root, meta, wanted)
    graph = _model_dir() / "model.onnx"
    words, positions = "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight"
    base: dict[str, Any] = {words: onnx_rows(graph, f"network.{words}")}
    wanted_names = {f"network.{positions}"}
    if session is None:  # the fp32 layers start from the encoder's weights
        wanted_names |= set(meta["onnx_weights"].values())
    base.update(onnx_initializers(graph, wanted_names, copy=True))
    base[positions] = base.pop(f"network.{positions}")
    try:
        return Judge(meta, trained, base, session)
    except KeyError as exc:
        raise ConfigurationError(f"judge in {root} lacks {exc}") from exc


_lock = threading.Lock()
_loaded: list[Judge] = []
_failed: list[Exception] = []


def shared() -> Judge:
    """The shipped judge, loaded once per process (about 0.5 s, logged); a failed load is not
    retried (its error is raised again at once)."""
    if _loaded:
        return _loaded[0]
    with _lock:
        if _failed:
            raise _failed[0]
        if not _loaded:
            started = time.perf_counter()
            try:
                judge = load()
            except Exception as exc:
                _failed.append(exc)
                raise
            logger.info(
                "tiered_cache: duplicate judge %s loaded in %.2f s (%d layers, %s)",
                judge.version,
                time.perf_counter() - started,
                judge.layers,
                judge.precision,
            )
            _loaded.append(judge)
        return _loaded[0]


def start_loading() -> None:
    """Load the shipped judge in a background thread (once per process; errors are reported
    where it is first needed)."""
    if _loaded or _starting.is_set():
        return
    _starting.set()

    def run() -> None:
        with contextlib.suppress(Exception):  # raised again, with its message, on first use
            shared()

    background.start(run, "tiered-cache-judge")  # waited for at exit


_starting = threading.Event()
