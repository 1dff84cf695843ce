"""``/v1/whereby``: Whereby's signed webhooks (who joined and left a meeting)."""
