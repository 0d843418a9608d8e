"""Every Redis key name of a cache, in one place.

A namespace's keys all start with `{prefix}:{<namespace>}:v{version}:`; the braces are a Redis
Cluster hash tag, so that every key of a namespace (entries, counters, leases, aux data, stats,
and so the documents of its vector index) lives in one slot, on one shard. (A namespace that
holds braces itself is tagged by a digest: `{prefix}:{<digest>}:<namespace>:v{version}:`.)

    e:{key}        an entry: a hash with the entry JSON (`d`) and, for deterministic requests,
                   its vector, partition and question (`q`, then left out of `d`), indexed by
                   RediSearch; {key} is the first 32 hex digits of the cache key
    h:{key}        the entry's hit counter (kept out of the indexed hash)
    lease:{name}   a get_or_compute lease
    a:{key}        the auxiliary store: threshold state, adapters' embeddings and ingestion data
    stats          the shared counters of every process
    schema         the fingerprint of the vector index
    idx:s{n}       the vector index (RediSearch), over the `e:` keys only
"""

from __future__ import annotations

import hashlib
import re

SCHEMA_VERSION = 2  # 2: no `ns` field; entry names carry 128 bits of the cache key
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def glob_escape(text: str) -> str:
    """`text` as a literal inside a SCAN MATCH pattern."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def safe_url(url: str | None) -> str:
    """A Redis URL with its password hidden (for logs and messages)."""
    return re.sub(r"//[^@/]*@", "//***@", url or "")


KEY_CHARS = 32
"""Hex digits of a cache key (a SHA-256) in Redis names: 128 bits cannot collide in practice,
and every name is stored several times (key space, index document table, hit counter)."""


class Keyspace:
    """The key names of one namespace and cache version."""

    def __init__(self, prefix: str, namespace: str, cache_version: int) -> None:
        if "{" in namespace or "}" in namespace:  # would end the hash tag early
            tag = hashlib.sha256(namespace.encode()).hexdigest()[:16]
            self.base = f"{prefix}:{{{tag}}}:{namespace}:v{cache_version}:"
        else:
            self.base = f"{prefix}:{{{namespace}}}:v{cache_version}:"
        self.tag_key = self.base  # any key of the namespace: it names the slot
        self.index_name = f"{self.base}idx:s{SCHEMA_VERSION}"
        self.schema = f"{self.base}schema"
        self.stats = f"{self.base}stats"
        self.entry_prefix = f"{self.base}e:"
        self.aux_prefix = f"{self.base}a:"

    def entry(self, key: str) -> str:
        return f"{self.entry_prefix}{key[:KEY_CHARS]}"

    def entry_key_of(self, name: str | bytes) -> str:
        """The cache key of the entry stored under Redis key `name`."""
        text = name.decode() if isinstance(name, bytes) else name
        return text[len(self.entry_prefix) :]

    def hits(self, key: str) -> str:
        return f"{self.base}h:{key[:KEY_CHARS]}"

    def lease(self, name: str) -> str:
        return f"{self.base}lease:{name}"

    def aux(self, key: str) -> str:
        return f"{self.aux_prefix}{key}"

    def aux_key_of(self, name: str | bytes) -> str:
        text = name.decode() if isinstance(name, bytes) else name
        return text[len(self.aux_prefix) :]

    def pattern(self, kind: str, prefix: str = "") -> str:
        """A SCAN pattern for the keys of one kind (`e`, `h`, `a`) starting with `prefix`."""
        return glob_escape(f"{self.base}{kind}:{prefix}") + "*"
