"""Storage: typed models, sessions and small query functions."""
