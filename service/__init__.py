"""The Warden HTTP service: events in, decisions out, triage queue, registration breaker,
moderator pages. `service.app.create_app` builds it; `warden serve` runs it."""
