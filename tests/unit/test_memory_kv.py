from __future__ import annotations

from tiered_cache import MemoryKV


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lru_evicts_least_recently_used_not_least_hit() -> None:
    evicted: list[str] = []
    kv = MemoryKV(max_entries=3, on_evict=evicted.append)
    for k in "abc":
        kv.set(k, k.encode(), None)
    for _ in range(5):
        assert kv.get("b") is not None  # b is hit often but used before a
    assert kv.get("a") == (b"a", 1)  # a is now the most recent
    kv.set("d", b"d", None)
    assert evicted == ["c"]
    kv.set("e", b"e", None)
    assert evicted == ["c", "b"]
    assert sorted(k for k, _ in kv.scan("")) == ["a", "d", "e"]


def test_byte_bound() -> None:
    kv = MemoryKV(max_entries=100, max_bytes=30)
    kv.set("k1", b"x" * 10, None)
    kv.set("k2", b"y" * 10, None)
    kv.set("k3", b"z" * 10, None)  # 36 bytes with keys: k1 goes
    assert kv.get("k1") is None
    assert kv.get("k3") == (b"z" * 10, 1)
    assert kv.nbytes <= 30
    kv.set("big", b"q" * 100, None)  # larger than the cache: refused, evicts nothing
    assert kv.get("big") is None
    assert kv.get("k2") is not None


def test_ttl_expiry_per_entry() -> None:
    clock = Clock()
    kv = MemoryKV(clock=clock)
    kv.set("short", b"1", ttl=5)
    kv.set("forever", b"2", ttl=None)
    clock.now += 4.9
    assert kv.get("short") == (b"1", 1)
    clock.now += 0.2
    assert kv.get("short") is None
    assert len(kv) == 1
    assert kv.get("forever") == (b"2", 1)
    assert kv.scan("") == [("forever", b"2")]


def test_overwrite_resets_hits_and_size() -> None:
    kv = MemoryKV()
    kv.set("a", b"12345", None)
    kv.get("a")
    kv.set("a", b"1", None)
    assert kv.get("a") == (b"1", 1)
    assert kv.nbytes == 2
    kv.delete("a")
    assert kv.nbytes == 0
