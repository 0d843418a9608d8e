"""The exception hierarchy: everything tiered-cache raises derives from TieredCacheError."""

from __future__ import annotations


class TieredCacheError(Exception):
    """Root of every error raised by tiered-cache."""


class ConfigurationError(TieredCacheError, ValueError):
    """A setting or argument is invalid; raised at construction, never during a lookup."""


class InvalidRequestError(TieredCacheError, ValueError):
    """A request cannot be cached (wrong type, too large, ...)."""


class BackendError(TieredCacheError):
    """A storage backend failed. Lookups and stores turn this into a miss; admin calls raise it."""


class SchemaMismatchError(ConfigurationError):
    """An existing Redis index was built with a different schema than this cache expects."""


class ModelNotFoundError(ConfigurationError):
    """The embedding model is not installed locally (nothing is ever downloaded at run time)."""
