"""The cangtou application: CLI, command core, adapters, storage."""
