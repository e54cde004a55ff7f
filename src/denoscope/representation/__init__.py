"""The representation stage: ā_j and φ over noise levels and draws, streamed to REP/ and read back lazily, or kept in memory."""

from .extract import RepConfig, check_training_range, default_sigmas, model_sigmas, represent
from .store import Representation

__all__ = ["RepConfig", "Representation", "check_training_range", "default_sigmas", "model_sigmas", "represent"]
