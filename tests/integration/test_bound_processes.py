"""max_wrong_rate across processes: the bound's state lives on Redis (and on the cluster), so a
level proved by one process lets another serve, and a wrong answer another process's audit found
tightens the bound every process reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tiered_cache import TieredCache
from tiered_cache.rules import bound as qb

from ..conftest import backend_url
from ..unit.fake_embedder import MapEmbedder
from ..unit.test_audit import ASKED, SETTINGS, STORED, proved

ROOT = Path(__file__).resolve().parents[2]
THIRD = "What is the way to bake sourdough bread?"
# The other process: asks the reworded question once; its model's answer differs from the
# stored one, so its audit finds a wrong answer and writes it to the shared state.
OTHER = """
import sys
from tests.conftest import wait_for
from tests.unit.fake_embedder import MapEmbedder
from tests.unit.test_audit import ASKED, SETTINGS, STORED
from tiered_cache import TieredCache

url, namespace = sys.argv[1], sys.argv[2]
emb = MapEmbedder()
emb.pair(STORED, ASKED, 0.96)
cache = TieredCache.from_url(url, namespace=namespace, embedder=emb, vector_dtype="float32",
                             **SETTINGS)
served = cache.get_or_compute(cache.request(ASKED, model="m"), lambda: "cake")
wait_for(lambda: cache.stats()["audits"] == 1 and not cache.auditor._in_flight, "the audit")
tier = served.hit.tier if served.hit else "miss"
print(served.payload, tier, cache.stats()["bound"]["wrong_found"])
cache.close()
"""


@pytest.mark.redis
@pytest.mark.parametrize("backend", ["redis", "cluster"])
def test_two_processes_share_the_bound(
    request: pytest.FixtureRequest, backend: str, namespace: str
) -> None:
    url = backend_url(request, backend)
    assert url is not None
    emb = MapEmbedder()
    emb.pair(STORED, ASKED, 0.96)
    emb.pair(STORED, THIRD, 0.93)  # served at level 0, not above level 2
    cache = TieredCache.from_url(
        url, namespace=namespace, embedder=emb, vector_dtype="float32", **SETTINGS
    )
    try:
        cache.store(cache.request(STORED, model="m"), "bread")
        proved(cache, audits=qb.min_audits(0.05) + 1)  # level 0 proved here, barely: the
        # other process must read it to serve, and one wrong answer is enough to undo it
        assert cache.stats()["bound"]["level"] == 0
        other = subprocess.run(
            [sys.executable, "-c", OTHER, url, namespace],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
        assert other.returncode == 0, other.stderr[-2000:]
        # It served our proved level's hit, then its audit found the answers differ.
        assert other.stdout.split() == ["bread", "semantic", "1"]
        raw = cache.aux.get(qb.state_key(qb.GLOBAL))
        assert raw is not None and qb.BoundState.from_raw(raw).wrong == 1
        bound = cache.stats()["bound"]
        assert bound["wrong_found"] == 1
        assert bound["level"] == "off" or bound["level"] > 2  # tightened by the other's audit
        # The other process's fresh answer is stored for its question, and the tightened
        # bound serves no semantic hit here any more.
        hit = cache.lookup(cache.request(ASKED, model="m"))
        assert hit is not None and (hit.payload, hit.tier) == ("cake", "exact")
        assert cache.lookup(cache.request(THIRD, model="m")) is None
    finally:
        cache.clear(aux=True)
        cache.close()
