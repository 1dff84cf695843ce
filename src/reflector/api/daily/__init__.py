"""Daily's webhook."""
