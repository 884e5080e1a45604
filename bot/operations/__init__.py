"""Schedules and operations: the retrain and what it learns from, model promotion and rollback,
job locks across replicas, the almanac. May import base/, store/, serving/ and cards/."""
