"""Video platforms (Daily, Whereby) behind one interface: :mod:`reflector.platforms.base`."""
