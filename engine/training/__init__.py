"""Supervised training: config, the train job, callbacks and checkpoints."""
