"""The shared log-mel feature extractor (and, later, the training augmentations)."""
