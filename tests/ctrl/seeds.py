"""Seeds of the Amaranth-simulator unit tests: ``$SEED`` if set, else a fresh one (printed
with every failure, so a failing run can be repeated with ``SEED=<n>``)."""

import os
import random


def draw_seed():
    return int(os.environ["SEED"]) if os.environ.get("SEED") else \
        random.SystemRandom().randrange(1 << 31)
