"""``python -m sslwatch ARGS...``: runs the installed ``sslwatch`` binary."""

import os
import subprocess
import sys

from ._binary import find_binary


def main() -> None:
    binary = find_binary()
    args = [binary, *sys.argv[1:]]
    if sys.platform == "win32":
        sys.exit(subprocess.call(args))
    # Replace this process, so signals, the terminal (watch's UI) and the
    # exit code are the binary's own.
    os.execv(binary, args)


if __name__ == "__main__":
    main()
