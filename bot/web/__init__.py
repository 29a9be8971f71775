"""HTTP server: webhooks, health and metrics."""
