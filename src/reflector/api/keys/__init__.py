"""API keys for programs."""
