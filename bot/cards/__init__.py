"""Poem cards: 竖排 PNG rendering (render) and the CJK font it needs (fonts).
May import base/ (and engine/); nothing else in bot/."""
