"""The packaged encoder graph's weights, read without the `onnx` package: named float32
initializers (`onnx_initializers`), or a matrix read row by row as texts need it (`Rows`). The
duplicate judge builds on the encoder's weights this way (rules/judge.py)."""

from __future__ import annotations

import contextlib
import mmap
import os
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ModelNotFoundError

Array = npt.NDArray[np.float32]


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
