"""``python -m entrypoints <job> …``: run one of the project's jobs (see titanic_model.cli)."""

import sys

from titanic_model.cli import main

if __name__ == "__main__":
    sys.exit(main())
