import sys

from edgevla.cli import main

sys.exit(main())
