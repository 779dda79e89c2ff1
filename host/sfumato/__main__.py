import sys

from sfumato.cli import main

sys.exit(main())
