"""Training side of cangtou: corpus building, datasets, the training loop."""
