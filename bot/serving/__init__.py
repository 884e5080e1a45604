"""Poem generation and serving: the model holder and registry, the worker queue, the batched
step-scheduler processes. May import base/ (and engine/); nothing else in bot/."""
