"""`looped view` pages of long runs: size on disk and time to open in headless Chromium.

    python benchmarks/view_page.py [--quick] [--long]

For runs of 1,000 .. 10,000 instructions (programs/gcd.asm with a = 30000, b = 1: a loop that
runs 200,000 instructions, cut by --max-steps), records each run through the transformer
(looped/view/record.py), writes its page, and opens it in a fresh headless Chromium tab, at step 0
and at its last step (the page replays every step's changes to get there), three times each: the
seconds from navigation to the load event (the page's script has built the view by then). Then
presses → once at the last-but-one step and times the update. `--long` adds a 100,000-step run
kept as a window of the last 10,000 steps. The issue's bounds: a 10^4-step page at most 20 MB,
opened in at most 3 s.

Writes benchmarks/results/view_page.json and .png.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parent.parent.as_posix())

from benchmarks.common import emit

SIZE_BOUND_MB, OPEN_BOUND_S = 20.0, 3.0
PROGRAM, SETTINGS = "programs/gcd.asm", {"a": 30000, "b": 1}


def measure(browser, steps: int, window: int, folder: str, repeats: int) -> dict:
    from looped.assembler import assemble_file
    from looped.view import page
    from looped.view.record import record

    program = assemble_file(PROGRAM).with_settings(SETTINGS)
    start = time.perf_counter()
    recording = record(program, max_steps=steps, window=window)
    record_s = time.perf_counter() - start
    path = os.path.join(folder, f"gcd-{steps}.html")
    start = time.perf_counter()
    size = page.write(recording, path)
    write_s = time.perf_counter() - start
    opens = {"step_0": [], "last_step": []}
    for _ in range(repeats):
        for name, k in (("step_0", recording.first), ("last_step", recording.total)):
            tab = browser.open("about:blank")
            opens[name].append(tab.navigate(f"file://{path}#step={k}"))
            assert tab.evaluate("document.getElementById('step').textContent") == str(k)
            tab.send("Page.close")
    tab = browser.open(f"file://{path}#step={recording.total - 1}")
    start = time.perf_counter()
    tab.press("ArrowRight")
    shown = tab.evaluate("document.getElementById('step').textContent")
    key_s = time.perf_counter() - start
    assert shown == str(recording.total)
    return {"steps": recording.total, "kept": len(recording.steps), "record_s": round(record_s, 2),
            "write_s": round(write_s, 2), "size_mb": round(size / 1e6, 3),
            "bytes_per_step": round(size / max(1, len(recording.steps))),
            "open_s": {name: round(statistics.median(times), 3) for name, times in opens.items()},
            "open_s_all": {name: [round(t, 3) for t in times] for name, times in opens.items()},
            "arrow_key_s": round(key_s, 3)}


def main(quick: bool = False, long: bool = False) -> dict:
    from looped.view.browser import Browser, find_chromium

    if find_chromium() is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    sizes = [1000, 10_000] if quick else [1000, 3000, 10_000]
    runs = []
    with tempfile.TemporaryDirectory() as folder, Browser(timeout=120) as browser:
        for steps in sizes:
            runs.append(measure(browser, steps, 10_000, folder, 2 if quick else 3))
        if long:
            runs.append(measure(browser, 100_000, 10_000, folder, 2))
    biggest = next(r for r in runs if r["steps"] == 10_000)
    data = {
        "command": "python benchmarks/view_page.py" + (" --quick" if quick else "") + (" --long" if long else ""),
        "program": PROGRAM, "settings": SETTINGS, "browser": "headless chromium (Debian), DevTools pipe",
        "runs": runs,
        "must_show": {
            "size_mb_10k_steps": biggest["size_mb"], "size_bound_mb": SIZE_BOUND_MB,
            "open_s_10k_steps": max(biggest["open_s"].values()), "open_bound_s": OPEN_BOUND_S,
            "held": biggest["size_mb"] <= SIZE_BOUND_MB and max(biggest["open_s"].values()) <= OPEN_BOUND_S,
        },
    }

    def plot(plt):
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        steps = [r["steps"] for r in runs]
        left.plot(steps, [r["size_mb"] for r in runs], "o-", label="page size")
        left.axhline(SIZE_BOUND_MB, color="red", linestyle="--", label=f"bound {SIZE_BOUND_MB:g} MB at 10^4 steps")
        left.set_xlabel("instructions recorded")
        left.set_ylabel("MB")
        left.set_xscale("log")
        left.set_title("looped view: page size")
        left.legend()
        for name, style in (("step_0", "o-"), ("last_step", "s-")):
            right.plot(steps, [r["open_s"][name] for r in runs], style, label=f"open at {name.replace('_', ' ')}")
        right.axhline(OPEN_BOUND_S, color="red", linestyle="--", label=f"bound {OPEN_BOUND_S:g} s")
        right.set_xlabel("instructions recorded")
        right.set_ylabel("seconds to the load event (median)")
        right.set_xscale("log")
        right.set_title("opening the page in headless Chromium")
        right.legend()
        fig.tight_layout()
        return fig

    return emit("view_page", data, plot)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two sizes, fewer repeats")
    ap.add_argument("--long", action="store_true", help="also a 100,000-step run kept as a 10,000-step window")
    args = ap.parse_args()
    main(args.quick, args.long)
