"""The package list: engine, train, bot and migrations as found, and the QQ plugin
nonebot_plugin_cangtou, whose folder is bot/adapters/qq (pyproject.toml maps it)."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(
            include=["engine*", "train*", "bot*", "migrations*"],
            exclude=["bot.adapters.qq", "bot.adapters.qq.*"],
        ),
        "nonebot_plugin_cangtou",
    ],
)
