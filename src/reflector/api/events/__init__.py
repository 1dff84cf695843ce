"""Events: a transcript's stored events over HTTP, its live ones and a user's on WebSockets."""
