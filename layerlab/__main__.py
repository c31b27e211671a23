"""`python -m layerlab` is the `layerlab` command."""

import sys

from .cli import main

sys.exit(main())
