import sys

from reflector.cli.main import main

sys.exit(main())
