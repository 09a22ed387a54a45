"""Model-card templates, the card generator and the Hub export (Hub-cards issue)."""
