"""What a catalog team does with the predictions: the label history of every change, the
review sessions (the queue of a file's predictions and what was done with each) and the
label audits (the stored labels that are probably wrong)."""

from semcat.review.audits import Audits
from semcat.review.history import SOURCES, LabelChange, LabelHistory
from semcat.review.sessions import STATES, ReviewSessions

__all__ = ["SOURCES", "STATES", "Audits", "LabelChange", "LabelHistory", "ReviewSessions"]
