"""What this server is: its version, the models it runs and its upload limits."""
