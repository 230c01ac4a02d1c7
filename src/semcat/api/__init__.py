"""The HTTP face: a FastAPI app over the engine (``semcat serve``)."""

from semcat.api.app import create_app

__all__ = ["create_app"]
