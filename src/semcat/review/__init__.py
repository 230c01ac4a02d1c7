"""What a catalog team does with the predictions: the label history of every change and
the review sessions (the queue of a file's predictions and what was done with each)."""

from semcat.review.history import SOURCES, LabelChange, LabelHistory
from semcat.review.sessions import STATES, ReviewSessions

__all__ = ["SOURCES", "STATES", "LabelChange", "LabelHistory", "ReviewSessions"]
