"""The `echo` agent: reads a line, echoes it; `ask` makes it ask a yes/no question first.

Everything it was told and answered goes to `echo.log` in its folder, so a test can see it.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    name = sys.argv[1] if len(sys.argv) > 1 else "echo"
    log = Path("echo.log")
    print(f"{name} ready", flush=True)
    while True:
        print("echo> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            return 0
        text = line.strip()
        with log.open("a") as out:
            out.write(f"told: {text}\n")
        if text == "ask":
            print("Allow this? (y/n) ", end="", flush=True)
            answer = sys.stdin.readline().strip()
            verdict = "approved" if answer == "y" else "refused"
            print(verdict, flush=True)
            with log.open("a") as out:
                out.write(f"{verdict}\n")
        else:
            print(f"echo: {text}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
