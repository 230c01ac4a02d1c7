"""semcat: semantic product categorization on a vector database."""

__version__ = "0.1.0"
