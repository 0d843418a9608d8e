"""Redis with a password and TLS (rediss://): works, and the password never reaches a log."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tiered_cache import TieredCache

from ..redis_server import RedisStackServer, free_port

PASSWORD = "s3cret-Pa55word"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisStackServer]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make a test certificate (apt-get install openssl)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = RedisStackServer(password=PASSWORD, tls=(Path(cert), Path(key))).start()
    yield server
    server.stop()


@pytest.mark.redis
def test_rediss_with_auth_round_trips(tls_server: RedisStackServer) -> None:
    assert tls_server.url.startswith("rediss://")
    cache = TieredCache.from_url(tls_server.url, namespace="tls")
    cache.store(cache.request("What is the capital of France?", model="m"), "Paris")
    hit = cache.lookup(cache.request("What's the capital city of France?", model="m"))
    assert hit is not None and (hit.payload, hit.tier) == ("Paris", "semantic")
    cache.clear()
    cache.close()


@pytest.mark.redis
def test_secrets_never_logged(
    tls_server: RedisStackServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = tls_server.url.replace(PASSWORD, "wrong-" + PASSWORD)
    dead = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    with caplog.at_level("DEBUG"):
        for url in (wrong, dead):
            cache = TieredCache.from_url(url, namespace="tls")
            req = cache.request("q", model="m")
            assert cache.lookup(req) is None
            assert cache.store(req, "v") is False
            assert cache.stats()["errors"] >= 2
            cache.close()
    assert caplog.records, "failures must be logged"
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)
