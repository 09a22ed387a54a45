"""The models: one file per model family, plus shared layers, heads and weight conversions."""
