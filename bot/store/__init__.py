"""Storage: typed models, sessions and small query functions over SQLite or PostgreSQL.
May import base/ only."""
