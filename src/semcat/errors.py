"""Typed errors. Each carries a stable ``code`` the API maps to an HTTP status and
the CLI prints as one line before exiting non-zero."""

from __future__ import annotations


class SemcatError(Exception):
    """Base class of every error semcat raises on purpose."""

    code = "semcat_error"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(SemcatError):
    """A setting or option has an invalid or inconsistent value."""

    code = "config_error"


class CatalogError(SemcatError):
    """A catalog file cannot be read at all (missing, empty, wrong encoding, no text columns)."""

    code = "catalog_error"
    http_status = 422


class InvalidInputError(SemcatError):
    """A product or query given directly (not from a file) is unusable, e.g. empty text."""

    code = "invalid_input"
    http_status = 422


class ModelError(SemcatError):
    """An embedding model cannot be found or loaded."""

    code = "model_error"
    http_status = 503


class StoreError(SemcatError):
    """The vector store cannot be opened or is incompatible with the request."""

    code = "store_error"
    http_status = 503


class NotFoundError(SemcatError):
    """A product id (or another named thing) does not exist."""

    code = "not_found"
    http_status = 404


class EmptyIndexError(SemcatError):
    """Categorization was asked of a store holding no labeled product."""

    code = "empty_index"
    http_status = 409


class EmptyFilterError(EmptyIndexError):
    """The store holds labeled products, but none under the category a caller asked for
    (an EmptyIndexError to the code that votes subtree by subtree, a 404 to a caller)."""

    code = "not_found"
    http_status = 404


class StoreMissingError(StoreError):
    """The configured store or collection does not exist yet."""

    code = "store_missing"
    http_status = 409


class ConflictError(SemcatError):
    """An action on something that changed since the caller read it (a stale version)."""

    code = "conflict"
    http_status = 409
