"""The judge: a small cross-encoder that reads a query and a stored question together.

Cosine similarity compares two vectors made apart; the judge reads "[CLS] query [SEP] stored
[SEP]" at once, so its attention compares the two questions word by word. It is the first
`layers` layers of all-MiniLM-L6-v2 with low-rank adapters and a linear head, trained on QQP
pairs by `python -m training.train_judge` (the card `judge/judge.json` says how and what it
measured). The verifier feeds its logit into its logistic regression, and only calls it when the
answer could change the decision (`Verifier.accepts`), so most lookups never pay for it.

No PyTorch at run time: the base weights are read from the packaged ONNX graph of the embedding
model (the vocabulary matrix row by row as texts need them, `Rows`), what training changed from
`judge/judge.npz` (float16, a couple of MB), and the forward pass of one pair is NumPy.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import math
import mmap
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
from ..errors import ConfigurationError, ModelNotFoundError

logger = logging.getLogger(__name__)
Array = npt.NDArray[np.float32]
CARD = "judge.json"
WEIGHTS = "judge.npz"
_LINEARS = ("query", "key", "value", "attention_out", "intermediate", "output")


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        out |= (byte & 0x7F) << shift
        if byte < 0x80:
            return out, pos
        shift += 7


def _fields(buf: memoryview) -> Any:
    """(field number, wire type, value) of a protobuf message; length-delimited values are
    memoryviews (zero-copy), varints ints; fixed-width values are skipped as bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            yield number, wire, buf[pos : pos + length]
            pos += length
        elif wire == 1:
            yield number, wire, buf[pos : pos + 8]
            pos += 8
        elif wire == 5:
            yield number, wire, buf[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def onnx_initializers(path: Path, names: set[str], copy: bool = False) -> dict[str, Array]:
    """The float32 initializers `names` of an ONNX graph, read without the `onnx` package
    (ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto dims = 1, data_type = 2,
    name = 8, raw_data = 9). The arrays are read-only views of a memory map of the file (only
    the rows used are ever read: the vocabulary matrix costs little memory), or, with `copy`,
    writable copies (the map is closed at once)."""
    with path.open("rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return _initializers(path, memoryview(mapped), names, copy)
    finally:
        if copy:
            with contextlib.suppress(BufferError):
                mapped.close()


class Rows:
    """A float32 matrix in a file whose rows are read when asked for (`rows[ids]`), with
    `os.pread`, never mapped. The judge's vocabulary matrix (30,522 x 384, 47 MB) is read this
    way: a memory map of it faults in the pages around each row a text uses too, so after 300
    pairs of random words the mapped matrix held 50 MB of the process's memory; read by row,
    only the rows of the pair being judged are (a pair's ~30 rows cost ~0.1 ms of ~9)."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, int]) -> None:
        self.path, self.offset, self.shape = path, offset, shape
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def __getitem__(self, ids: npt.NDArray[np.int64]) -> Array:
        count, width = self.shape
        out = np.empty((len(ids), width), dtype=np.float32)
        size = 4 * width
        for i, row in enumerate(ids.tolist()):
            if not 0 <= row < count:
                raise IndexError(f"row {row} of a {count}-row matrix")
            if os.preadv(self._fd, [out[i]], self.offset + row * size) != size:
                raise ModelNotFoundError(f"{self.path}: truncated at row {row}")
        return out


def onnx_rows(path: Path, name: str) -> Rows:
    """The 2-d float32 initializer `name` of an ONNX graph as `Rows` (read by row)."""
    with path.open("rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        view = _initializers(path, memoryview(mapped), {name}, copy=False)[name]
        if view.ndim != 2:
            raise ModelNotFoundError(f"{path}: initializer {name} is not a matrix")
        start = np.frombuffer(mapped, dtype=np.uint8)
        offset = view.ctypes.data - start.ctypes.data
        shape = (int(view.shape[0]), int(view.shape[1]))
        del view, start
    finally:
        with contextlib.suppress(BufferError):
            mapped.close()
    return Rows(path, offset, shape)


def _initializers(path: Path, model: memoryview, names: set[str], copy: bool) -> dict[str, Array]:
    found: dict[str, Array] = {}
    graph = next((v for n, w, v in _fields(model) if n == 7 and w == 2), None)
    if graph is None:
        raise ModelNotFoundError(f"{path}: not an ONNX model (no graph)")
    for number, wire, tensor in _fields(graph):
        if number != 5 or wire != 2:
            continue
        dims: list[int] = []
        name, raw, dtype = "", None, 0
        for n, w, v in _fields(tensor):
            if n == 1 and w == 0:
                dims.append(v)
            elif n == 1 and w == 2:  # packed dims
                sub = 0
                while sub < len(v):
                    d, sub = _varint(v, sub)
                    dims.append(d)
            elif n == 2:
                dtype = v
            elif n == 8:
                name = bytes(v).decode()
            elif n == 9:
                raw = v
        if name in names:
            if dtype != 1 or raw is None:
                raise ModelNotFoundError(f"{path}: initializer {name} is not raw float32")
            array = np.frombuffer(raw, dtype="<f4").reshape(dims)
            found[name] = array.copy() if copy else array
    missing = names - set(found)
    if missing:
        raise ModelNotFoundError(f"{path}: no initializer(s) {sorted(missing)}")
    return found


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


class Judge:
    """Logit that a query and a stored question are duplicates (the pair's order matters a
    little: the query goes first, as in training)."""

    def __init__(self, card: dict[str, Any], trained: dict[str, Array], base: dict[str, Any]):
        from tokenizers import Tokenizer

        self.card = card
        self.version = str(card["version"])
        self.heads = int(card["heads"])
        self.layers = int(card["layers"])
        self.logit_range = (float(card["logit_range"][0]), float(card["logit_range"][1]))
        get = {**base, **trained}.__getitem__
        self.words = get("embeddings.word_embeddings.weight")
        self.positions = get("embeddings.position_embeddings.weight")
        self.segments = get("embeddings.token_type_embeddings.weight")
        self.norm = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        scale = float(card["alpha"]) / float(card["rank"])
        self.blocks: list[dict[str, Array]] = []
        for i in range(self.layers):
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
            self.blocks.append(block)
        self.head = get("head.weight").reshape(-1)
        self.head_bias = float(get("head.bias").reshape(-1)[0])
        tokenizer = Tokenizer.from_file(str(_model_dir() / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=int(card["max_len"]), strategy="longest_first")
        self.tokenizer = tokenizer
        self._combined = _Combined(self)

    def logit(self, query: str, candidate: str) -> float:
        return self.logits([(query, candidate)])[0]

    def logits(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The logits of several pairs in one pass, each what it is alone: every product of a
        layer runs on all the pairs' tokens at once (one larger product uses the cores better
        than several small ones); attention stays within each pair, so nothing is padded."""
        encodings = [self.tokenizer.encode(query, candidate) for query, candidate in pairs]
        lengths = [len(e.ids) for e in encodings]
        bounds = np.cumsum([0, *lengths]).tolist()
        ids = np.concatenate([np.asarray(e.ids) for e in encodings])
        types = np.concatenate([np.asarray(e.type_ids) for e in encodings])
        where = np.concatenate([np.arange(n) for n in lengths])
        x = self.words[ids] + self.positions[where] + self.segments[types]
        x = _layer_norm(x, *self.norm)
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


def load(directory: Path | None = None) -> Judge:
    """The judge in `directory` (default: the one shipped in the package)."""
    root = directory or _shipped_dir()
    meta = card(directory)
    try:
        with np.load(root / WEIGHTS, allow_pickle=False) as saved:
            trained = {k: saved[k].astype(np.float32) for k in saved.files}
    except FileNotFoundError as exc:
        raise ModelNotFoundError(f"no judge in {root}: {exc}") from exc
    except (ValueError, KeyError) as exc:
        raise ConfigurationError(f"judge in {root} is malformed: {exc}") from exc
    graph = _model_dir() / "model.onnx"
    words, positions = "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight"
    base: dict[str, Any] = {words: onnx_rows(graph, f"network.{words}")}
    base[positions] = onnx_initializers(graph, {f"network.{positions}"}, copy=True)[
        f"network.{positions}"
    ]
    base.update(onnx_initializers(graph, set(meta["onnx_weights"].values()), copy=True))
    try:
        return Judge(meta, trained, base)
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
                "tiered_cache: duplicate judge %s loaded in %.2f s (%d layers)",
                judge.version,
                time.perf_counter() - started,
                judge.layers,
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
