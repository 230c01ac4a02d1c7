"""semcat: semantic product categorization on a vector database.

The user API, imported on first use (``import semcat`` stays light for the CLI)::

    from semcat import Engine, Settings, Product
    with Engine(Settings()) as engine:
        engine.index(products)
        predictions = engine.categorize([Product(id="q", title="steel chef knife")])
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    "Engine": "semcat.engine",
    "categorize_frame": "semcat.engine",
    "Settings": "semcat.config",
    "Product": "semcat.catalog",
    "Prediction": "semcat.categorize.prediction",
    "QueryOptions": "semcat.options",
    "RequestOptions": "semcat.options",
    "SemcatError": "semcat.errors",
    "InvalidInputError": "semcat.errors",
}
__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:
    from semcat.catalog import Product as Product
    from semcat.categorize.prediction import Prediction as Prediction
    from semcat.config import Settings as Settings
    from semcat.engine import Engine as Engine
    from semcat.engine import categorize_frame as categorize_frame
    from semcat.errors import InvalidInputError as InvalidInputError
    from semcat.errors import SemcatError as SemcatError
    from semcat.options import QueryOptions as QueryOptions
    from semcat.options import RequestOptions as RequestOptions


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'semcat' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
