"""The running bot, on top with adapters/ and cli/: wiring (app), the scheduler's jobs and the
runner that starts every adapter. May import every other folder of bot/."""
