"""`python -m denoscope` and the `denoscope` command: Ctrl-C, even while torch is still importing, exits quietly."""

import sys


def main() -> None:
    try:
        from .cli import app

        app(prog_name="denoscope")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
