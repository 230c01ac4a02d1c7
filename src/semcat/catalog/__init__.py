"""Products and catalogs: the product record and its stored payload (``product``), column
detection (``columns``), and the readers that turn catalog files or DataFrames into
products (``readers``)."""

from semcat.catalog.columns import ColumnMap, resolve_columns
from semcat.catalog.product import (
    INTERNAL_KEYS,
    PATH_JOIN,
    TEXT_FIELDS,
    Product,
    category_prefixes,
    clean_text,
    level_key,
    parse_attributes,
    parse_category,
    payload_hash,
    public_payload,
    stored_payload,
    text_hash,
)
from semcat.catalog.readers import (
    FORMATS,
    CatalogReport,
    RejectedRow,
    detect_format,
    read_catalog,
    read_dataframe,
    rows_to_products,
)

__all__ = [
    "FORMATS",
    "INTERNAL_KEYS",
    "PATH_JOIN",
    "TEXT_FIELDS",
    "CatalogReport",
    "ColumnMap",
    "Product",
    "RejectedRow",
    "category_prefixes",
    "clean_text",
    "detect_format",
    "level_key",
    "parse_attributes",
    "parse_category",
    "payload_hash",
    "public_payload",
    "read_catalog",
    "read_dataframe",
    "resolve_columns",
    "rows_to_products",
    "stored_payload",
    "text_hash",
]
