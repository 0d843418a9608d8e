"""The sections of a CacheConfig: each a frozen dataclass that holds and validates its settings.

A section's fields carry the user-facing (flat) names, the keywords and `TIERED_CACHE_*`
variables, except where `metadata["flat"]` says otherwise (`RedisSettings.url` is `redis_url`);
error messages name the flat setting, which is what the user wrote.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ConfigurationError
from .normalize import DYNAMIC_PATTERNS, Normalizer

_NAME = re.compile(r"^[^\s:]{1,128}$")
DEFAULT_THRESHOLD = 0.90
"""The similarity threshold without a verifier, or with one fitted without the judge."""


def flat_name(f: dataclasses.Field[Any]) -> str:
    """The keyword and `TIERED_CACHE_*` name of a section's field."""
    return str(f.metadata.get("flat", f.name))


def _positive_ints(section: object, *names: str) -> None:
    for name in names:
        value = getattr(section, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(f"{name}={value!r}: must be a positive integer")


@dataclass(frozen=True)
class KeySettings:
    """What names an entry: namespace, key prefix, version, and the normalization before keying."""

    namespace: str = "default"
    """Tenant/application name; entries of other namespaces are never visible."""
    prefix: str = "tc"
    """Redis key prefix; keys are `{prefix}:{<namespace>}:v{cache_version}:...` (the braces: a
    Redis Cluster hash tag, one slot per namespace)."""
    cache_version: int = 1
    """Bump to invalidate every entry of the namespace at once."""
    casefold: bool = False
    strip_fillers: bool = True
    """Drop leading and trailing fillers ("um,", "hey", "quick question:", ", please") before
    keying; requests without them keep their keys."""
    strip_tokens: tuple[str, ...] = ("timestamp",)
    """Dynamic token kinds removed before keying: uuid, timestamp, date, hex_id."""
    strip_patterns: tuple[str, ...] = ()
    """Extra regexes removed before keying."""

    def __post_init__(self) -> None:
        for name in ("namespace", "prefix"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _NAME.match(value):
                raise ConfigurationError(
                    f"{name}={value!r}: use 1-128 characters without whitespace or ':'"
                )
        _positive_ints(self, "cache_version")
        bad = [t for t in self.strip_tokens if t not in DYNAMIC_PATTERNS]
        if bad:
            raise ConfigurationError(
                f"strip_tokens: unknown {bad}; choose from {sorted(DYNAMIC_PATTERNS)}"
            )
        self.normalizer()  # validates the regexes

    def normalizer(self) -> Normalizer:
        return Normalizer(
            casefold=self.casefold,
            strip=self.strip_tokens,
            extra_patterns=self.strip_patterns,
            fillers=self.strip_fillers,
        )


@dataclass(frozen=True)
class StorageSettings:
    """How long entries live and how much is kept or accepted."""

    ttl: float | None = None
    """Seconds an entry lives (None: until evicted)."""
    ttl_policy: Literal["fixed", "sliding"] = "fixed"
    """fixed: the TTL runs from the write; sliding: every hit restarts it (per entry too:
    `store(..., sliding=True)`)."""
    max_entries: int = 10_000
    """Embedded exact tier: LRU bound on entries."""
    max_bytes: int = 256 * 1024 * 1024
    """Embedded exact tier: LRU bound on stored bytes."""
    max_prompt_chars: int = 1_000_000
    max_payload_bytes: int = 10 * 1024 * 1024

    def __post_init__(self) -> None:
        _positive_ints(self, "max_entries", "max_bytes", "max_prompt_chars", "max_payload_bytes")
        if self.ttl is not None and not (0 < self.ttl <= 10 * 365 * 86400):
            raise ConfigurationError(f"ttl={self.ttl!r}: seconds in (0, 10 years], or None")
        if self.ttl_policy not in ("fixed", "sliding"):
            raise ConfigurationError(f"ttl_policy={self.ttl_policy!r}: fixed or sliding")


@dataclass(frozen=True)
class HitRules:
    """What decides a semantic hit: the tier, the threshold, the verifier and judge, the limits."""

    semantic: bool = True
    """Enable the semantic (L2) tier."""
    threshold: float | None = None
    """Cosine similarity at or above which a neighbour is considered (and, with the verifier
    on, verified). None: the threshold the shipped verifier weights were calibrated with on
    labelled Quora pairs (benchmarks/quality.py; the weights file records how): lower with the
    judge, which can tell paraphrases from near misses, 0.90 without it or without a verifier.
    `similarity_threshold` is the value in force."""
    candidates: int = 4
    """Neighbours fetched per semantic lookup (stale ones are skipped)."""
    verifier: bool = True
    """Check each candidate above the threshold (numbers, names, negation, question type...)."""
    verifier_cutoff: float | None = None
    """Verifier probability a candidate needs; None: the cut-off shipped with the weights."""
    judge: bool = True
    """Let the verifier ask the duplicate judge (a small cross-encoder, a few ms of CPU) about
    candidates its features cannot settle; False: features only (and threshold 0.90)."""
    judge_max_calls: int = 1
    """Candidates the judge may be asked about per lookup (the most promising first; the rest
    are misses): each call costs ~10 ms of CPU, so many close neighbours cannot multiply it."""
    max_semantic_temperature: float | None = 0.0
    """Requests hotter than this are exact-only (None: semantic at any temperature)."""
    semantic_max_chars: int | None = 400
    """Final user turns longer than this are exact-only: a long templated turn (RAG context plus
    question) is dominated by its context, so unrelated questions would look alike."""
    history: Literal["exact", "relevant"] = "relevant"
    """Earlier turns of a conversation: exact (all in the partition), or relevant (only those
    that can change the answer, compared turn against turn by meaning; conversation.py)."""
    standalone: Callable[[Sequence[Mapping[str, Any]]], str | None] | None = None
    """history="relevant": an app's rewrite of a dependent final question into a standalone one
    (given the normalized messages; None: no rewrite). The turns it drew on stay exact."""

    def __post_init__(self) -> None:
        _positive_ints(self, "candidates", "judge_max_calls")
        if self.threshold is not None and not 0.0 < self.threshold <= 1.0:
            raise ConfigurationError(f"threshold={self.threshold!r}: must be in (0, 1]")
        if self.verifier_cutoff is not None and not 0.0 <= self.verifier_cutoff <= 1.0:
            raise ConfigurationError(f"verifier_cutoff={self.verifier_cutoff!r}: in [0, 1] or None")
        if self.semantic_max_chars is not None and (
            isinstance(self.semantic_max_chars, bool)
            or not isinstance(self.semantic_max_chars, int)
            or self.semantic_max_chars < 1
        ):
            raise ConfigurationError(
                f"semantic_max_chars={self.semantic_max_chars!r}: a positive integer or None"
            )
        if self.history not in ("exact", "relevant"):
            raise ConfigurationError(f"history={self.history!r}: exact or relevant")
        if self.standalone is not None and not callable(self.standalone):
            raise ConfigurationError("standalone: a callable(messages) -> str | None, or None")

    @property
    def similarity_threshold(self) -> float:
        """The threshold in force: `threshold`, or the one its verifier weights were chosen with."""
        if self.threshold is not None:
            return self.threshold
        return _default_threshold(self.semantic and self.verifier, self.judge)


@dataclass(frozen=True)
class FeedbackSettings:
    """How evidence moves the threshold: `record_feedback` adaptation, `max_wrong_rate` audits."""

    adaptive_threshold: bool = True
    """Adapt the threshold from `record_feedback` (per partition, shared through the backend)."""
    target_precision: float = 0.95
    """Precision of semantic hits that feedback adaptation aims for."""
    threshold_min: float = 0.75
    threshold_max: float = 0.99
    """Bounds of the adapted threshold."""
    threshold_step: float = 0.01
    """Raise by this when precision is below target; lower by half of it when well above."""
    threshold_lower_margin: float = 0.03
    """Lower only when observed precision is at least target + this margin."""
    feedback_window: int = 200
    """Outcomes remembered per partition."""
    feedback_min_samples: int = 30
    """Outcomes needed before a threshold moves; fewer in a partition: the global one applies."""
    threshold_refresh_seconds: float = 5.0
    """How long a process trusts its copy of the shared adapted thresholds."""
    max_wrong_rate: float | None = None
    """Bound on the share of wrong semantic hits (e.g. 0.01), proved by background audits where
    the cache calls the model (get_or_compute, the adapters' model wrappers): the threshold and
    cut-off follow the evidence, and no semantic hit is served until it proves a level
    (docs/bound.md). None: off."""
    audit_rate: float = 0.1
    """With max_wrong_rate: the most semantic hits audited (one model call each), a hard cap;
    fewer once the bound is comfortably met."""

    def __post_init__(self) -> None:
        _positive_ints(self, "feedback_window", "feedback_min_samples")
        if not 0.0 < self.target_precision <= 1.0:
            raise ConfigurationError(f"target_precision={self.target_precision!r}: in (0, 1]")
        if not 0.0 < self.threshold_min <= self.threshold_max <= 1.0:
            raise ConfigurationError(
                f"threshold_min={self.threshold_min!r}, threshold_max={self.threshold_max!r}: "
                "need 0 < threshold_min <= threshold_max <= 1"
            )
        if not 0.0 < self.threshold_step <= 0.5 or not 0.0 <= self.threshold_lower_margin < 1.0:
            raise ConfigurationError("threshold_step in (0, 0.5], threshold_lower_margin in [0, 1)")
        if self.feedback_min_samples > self.feedback_window:
            raise ConfigurationError("feedback_min_samples must not exceed feedback_window")
        if self.max_wrong_rate is not None and (
            isinstance(self.max_wrong_rate, bool) or not 0.001 <= self.max_wrong_rate <= 0.5
        ):
            raise ConfigurationError(
                f"max_wrong_rate={self.max_wrong_rate!r}: a share in [0.001, 0.5] (0.01 is 1%), "
                "or None (off)"
            )
        if isinstance(self.audit_rate, bool) or not 0.0 < self.audit_rate <= 1.0:
            raise ConfigurationError(
                f"audit_rate={self.audit_rate!r}: the share of semantic hits audited, in (0, 1]"
            )
        if self.threshold_refresh_seconds < 0:
            raise ConfigurationError("threshold_refresh_seconds must be >= 0")


@dataclass(frozen=True)
class EmbeddingSettings:
    """The embedding model, what runs it, and the memo and batching in front of it."""

    embedding_model: str | None = None
    """sentence-transformers model name or path; None: the packaged all-MiniLM-L6-v2."""
    preload: bool = True
    """Load the embedding model in a background thread as the first cache is built (it never
    blocks construction and prints nothing); False: on the first semantic operation."""
    embedding_backend: Literal["auto", "onnx", "torch"] = "auto"
    """What runs the model: ONNX Runtime (same vectors, ~3x faster per query, no PyTorch at run
    time), sentence-transformers on PyTorch, or auto: ONNX when onnxruntime is installed."""
    embedding_cache_size: int = 10_000
    """Memoized embeddings (LRU)."""
    batch_window_ms: float = 2.0
    """Concurrent async lookups arriving within this window share one encode call."""

    def __post_init__(self) -> None:
        _positive_ints(self, "embedding_cache_size")
        if not 0.0 <= self.batch_window_ms <= 1000:
            raise ConfigurationError(f"batch_window_ms={self.batch_window_ms!r}: 0 to 1000")
        if self.embedding_backend not in ("auto", "onnx", "torch"):
            raise ConfigurationError(
                f"embedding_backend={self.embedding_backend!r}: auto, onnx or torch"
            )


@dataclass(frozen=True)
class VectorSettings:
    """The vector index of either backend (HNSW parameters, dtype, exact-search bound)."""

    exact_search_max: int = 2_000
    """Embedded semantic tier: exact search up to this many vectors per partition, HNSW beyond."""
    hnsw_m: int = 16
    hnsw_ef_construction: int = 200
    hnsw_ef_runtime: int = 64
    vector_dtype: Literal["float32", "float16"] = "float16"
    """Redis vectors: float16 halves their memory (3.9 instead of 6.1 KB an entry measured) with
    the same decisions (100% of 1,500 QQP dev pairs, same hit rate and precision)."""

    def __post_init__(self) -> None:
        _positive_ints(
            self, "exact_search_max", "hnsw_m", "hnsw_ef_construction", "hnsw_ef_runtime"
        )
        if self.vector_dtype not in ("float32", "float16"):
            raise ConfigurationError(f"vector_dtype={self.vector_dtype!r}: float32 or float16")


@dataclass(frozen=True)
class RedisSettings:
    """Where and how to reach Redis; `url` None: the embedded backends."""

    url: str | None = field(default=None, metadata={"flat": "redis_url"})
    """Use Redis for both tiers when set; embedded in-process backends otherwise."""
    cluster: bool | None = None
    """Whether `redis_url` names a node of a Redis Cluster (None: ask the server)."""
    timeout: float = field(default=0.1, metadata={"flat": "redis_timeout"})
    """Seconds a Redis call may take before it counts as failed (a lookup then misses)."""
    connect_timeout: float = field(default=1.0, metadata={"flat": "redis_connect_timeout"})
    """Seconds to open a connection to Redis (a refused connection fails at once)."""
    near_cache_size: int = 10_000
    """Redis backend: entries read from Redis kept in this process and served from memory until
    Redis says they changed (server-assisted client-side caching, near.py); 0: off."""
    migrate_index: bool = False
    """Rebuild an existing Redis index whose schema differs (its entries are dropped)."""
    shared_stats: bool = True
    """On Redis, add this process's counters to a per-namespace hash (about once a second), so
    that `tiered-cache stats` in any process reports them."""

    def __post_init__(self) -> None:
        size = self.near_cache_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigurationError(f"near_cache_size={size!r}: an integer >= 0 (0: off)")
        if not 0.0 < self.connect_timeout <= 60:
            raise ConfigurationError(
                f"redis_connect_timeout={self.connect_timeout!r}: seconds in (0, 60]"
            )
        if not 0.0 < self.timeout <= 60:
            raise ConfigurationError(f"redis_timeout={self.timeout!r}: seconds in (0, 60]")
        if self.url is not None and "://" not in self.url:
            raise ConfigurationError(
                f"redis_url={self.url!r}: a URL such as redis://host:6379/0, rediss:// "
                "or unix:// (the scheme picks the backend)"
            )


@dataclass(frozen=True)
class ResilienceSettings:
    """What a failing backend and concurrent computes of one key are allowed to cost."""

    breaker_failures: int = 5
    """Consecutive backend failures that open the circuit breaker (calls then miss at once)."""
    breaker_cooldown: float = 2.0
    """Seconds an open breaker waits before it lets one call probe the backend again."""
    lease_ms: int = 30_000
    """get_or_compute: how long one caller may hold the compute lease of a key."""
    lease_wait: float = 10.0
    """get_or_compute: seconds other callers wait for the leaseholder before computing anyway."""

    def __post_init__(self) -> None:
        _positive_ints(self, "breaker_failures", "lease_ms")
        if not 0.0 < self.breaker_cooldown <= 3600:
            raise ConfigurationError(f"breaker_cooldown={self.breaker_cooldown!r}: (0, 3600] s")
        if not 0.0 <= self.lease_wait <= 3600:
            raise ConfigurationError(f"lease_wait={self.lease_wait!r}: [0, 3600] s")


@dataclass(frozen=True)
class ObservabilitySettings:
    """What the cache reports beyond its own stats: metrics export and the prices of money saved."""

    prices: str | None = None
    """Model prices for money saved, extending the shipped table: a JSON file path or an inline
    JSON object of model pattern -> {"input": USD, "output": USD} per 1M tokens (pricing.py)."""
    metrics: bool = True
    """Export to Prometheus / OpenTelemetry when prometheus-client / opentelemetry-api exist."""


@functools.lru_cache(maxsize=4)
def _default_threshold(verifier: bool, judge: bool) -> float:
    if not verifier:
        return DEFAULT_THRESHOLD
    from .rules.verifier import VerifierWeights, judge_shipped

    weights = VerifierWeights.load(judge=judge and judge_shipped())
    return DEFAULT_THRESHOLD if weights.threshold is None else weights.threshold
