import sys

from vbs.cli import main

sys.exit(main())
