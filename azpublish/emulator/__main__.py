"""``python -m azpublish.emulator start --state-dir DIR`` and the other emulator commands."""

from __future__ import annotations

import sys

from azpublish.emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
