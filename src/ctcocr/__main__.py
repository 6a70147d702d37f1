import sys

from ctcocr.cli.main import main

sys.exit(main())
