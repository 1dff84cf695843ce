"""Prints the server's OpenAPI schema as JSON: the source of the web app's API types."""

import json
import sys
import tempfile

from reflector.api.app import create_app
from reflector.settings import Settings

with tempfile.TemporaryDirectory() as data_dir:
    json.dump(create_app(Settings(data_dir=data_dir)).openapi(), sys.stdout, indent=1)
