"""Command groups of the `warden` CLI; each module exposes ``register(app)``."""
