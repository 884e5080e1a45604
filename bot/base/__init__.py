"""The base layer: settings, the user-facing messages, error ids, logging and metrics.
It imports nothing else from bot/; every other folder may import it."""
