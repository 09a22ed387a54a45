"""Training scripts and their shared data, schedule and metric code (pretraining and fine-tuning issues)."""
