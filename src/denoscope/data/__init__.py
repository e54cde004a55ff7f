"""Image sources → lazily decoded ImageSets → seeded, transformed tensors for training and evaluation."""

from .dataset import TrainingSet, split_indices, stack_images
from .images import DataError, ImageSet
from .sources import open_source, reopen
from .transforms import Transform

__all__ = ["DataError", "ImageSet", "TrainingSet", "Transform", "open_source", "reopen", "split_indices", "stack_images"]
