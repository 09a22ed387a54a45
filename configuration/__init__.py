"""The configurations: one file per model family, plus what they share."""
