"""The shared log-mel feature extractor and the training augmentations."""
