"""Model cards: the generator and its templates."""
