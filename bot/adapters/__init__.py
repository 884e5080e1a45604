"""Thin adapters (Telegram, Discord, the console): a platform event in, a dispatcher call,
its reply out. On top: may import chat/, runtime/ and everything below."""
