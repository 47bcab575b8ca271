#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qodex.settings")
    # A developer's shell (no DEBUG, no SECRET_KEY) gets the development defaults; anywhere that sets
    # SECRET_KEY (production, CI, `make test`) keeps DEBUG off unless it says otherwise.
    if "DEBUG" not in os.environ and "SECRET_KEY" not in os.environ:
        os.environ["DEBUG"] = "1"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
