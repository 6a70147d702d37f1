import sys

from ctcocr.cli import main

sys.exit(main())
