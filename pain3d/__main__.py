"""``python -m pain3d ...`` (also what ``torchrun``/``accelerate launch -m pain3d`` start)."""

import sys

from .cli import main

sys.exit(main())
