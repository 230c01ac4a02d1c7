"""Bulk indexing: products -> content hash -> embed in batches -> upsert. Resumable."""

from semcat.indexer.bulk import IndexSummary, index_products, payload_hash, text_hash

__all__ = ["IndexSummary", "index_products", "payload_hash", "text_hash"]
