"""Bulk indexing: products -> content hash -> embed in batches -> upsert. Resumable."""

from semcat.indexer.bulk import IndexSummary, index_products

__all__ = ["IndexSummary", "index_products"]
