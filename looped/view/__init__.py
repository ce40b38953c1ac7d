"""`looped view`: an offline page that steps through a run of the looped transformer.

record.py runs the machine's layers one instruction at a time and keeps what each changed;
page.py writes the page (page.html, view.css, view.js: its template, shipped as package data);
cli.py is the subcommand; browser.py drives headless Chromium (tests, benchmark, screenshots.py).
See docs/view.md.
"""

# Steps a page keeps at most (the last ones of a longer run). Here, not in record.py, so that
# building the command line (`looped --help`, every command) does not import JAX for it.
DEFAULT_WINDOW = 10_000
