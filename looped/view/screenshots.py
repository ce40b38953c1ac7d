"""The screenshots of `looped view` in docs/ (docs/view.md shows them):

    python -m looped.view.screenshots [--out docs]

Each is a page written by `looped view`, opened in headless Chromium at a chosen step.
"""

from __future__ import annotations

import argparse
import os
import tempfile

# (file name, `looped view` arguments, step shown, window size)
SHOTS = (
    ("view-subleq.png", ["programs/gcd.asm", "--set", "a=1071", "--set", "b=462"], 9, (1500, 800)),
    ("view-fleq.png", ["programs/fleq/matrix_ops.asm"], 1, (1500, 1040)),
    ("view-tape.png", ["tapes/hello.tape"], 40, (1500, 1000)),
)


def main(argv=None) -> None:
    from looped.cli.shell import main as looped
    from looped.view.browser import Browser

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs", help="folder for the PNGs (default docs)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder, Browser() as browser:
        for name, view_args, step, (width, height) in SHOTS:
            page = os.path.join(folder, name.replace(".png", ".html"))
            if looped(["view", *view_args, "-o", page]) != 0:
                raise SystemExit(f"looped view {' '.join(view_args)} failed")
            tab = browser.open(f"file://{page}#step={step}", width=width, height=height)
            tab.screenshot(os.path.join(args.out, name), full_page=False)
            print(f"wrote {os.path.join(args.out, name)}")


if __name__ == "__main__":
    main()
