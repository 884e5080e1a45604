"""Thin adapters: a platform event in, a core call, the core's reply out."""
