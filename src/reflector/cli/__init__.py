"""The ``reflector`` command line."""
