"""`looped view` pages in a real browser (headless Chromium): the page's DOM at `#step=K` is the
run of `looped run --max-steps K --json` (`looped tape` for tapes), for SUBLEQ, FLEQ and a tape,
and the arrow keys step through the run. The page's contract: docs/view.md and
../shared/spec/interfaces.md."""

import html.parser
import json
import math
import os
import subprocess
import tempfile

import pytest

from view_helpers import run_cli, run_json

READ_DOM = """JSON.stringify({
  steps: document.body.dataset.steps,
  step: document.getElementById('step').textContent,
  hash: location.hash,
  memory: Array.from(document.querySelectorAll('#memory tr[data-cell]')).map(
      tr => [tr.dataset.cell, tr.querySelector('.value').textContent]),
  output: document.getElementById('output') ? document.getElementById('output').textContent : null})"""

CASES = {
    "subleq": (["programs/gcd.asm", "--set", "a=1071", "--set", "b=462"], "run"),
    "fleq": (["programs/fleq/matrix_ops.asm"], "run"),
    "tape": (["tapes/reverse.tape", "--input", "Hi there"], "tape"),
}


class _Pages(dict):
    """Each case's page, written by `looped view` on first use, and its run's JSON (not limited)."""

    def __init__(self):
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="looped-view-")

    def __missing__(self, name):
        args, command = CASES[name]
        path = os.path.join(self.folder, f"{name}.html")
        status, _, err = run_cli("view", *args, "-o", path)
        assert status == 0, err
        self[name] = (path, run_json(command, *args, "--backend", "dense"))
        return self[name]


@pytest.fixture(scope="module")
def pages():
    return _Pages()


def read_page(browser, path: str, step: int | None) -> dict:
    tab = browser.open("file://" + path + ("" if step is None else f"#step={step}"))
    return json.loads(tab.evaluate(READ_DOM))


def same_value(a, b) -> bool:
    """Equal integers, or reals within the dense and fast evaluators' agreement (1e-9 relative)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def check_against_run(dom: dict, run: dict, machine: str) -> None:
    if machine == "tape":
        memory = {str(k): v for k, v in enumerate(run["memory"])}
        assert dom["output"] == run["output"]
    else:
        memory = run["memory"]
    shown = {label: json.loads(text) for label, text in dom["memory"]}
    assert list(shown) == list(memory)
    bad = {label: (shown[label], memory[label]) for label in memory if not same_value(shown[label], memory[label])}
    assert not bad


def check_steps(browser, pages, machine: str, backend: str) -> None:
    path, final = pages[machine]
    total = final["steps"]
    args, command = CASES[machine]
    for k in sorted({0, 1, 2, total // 2 + 1, total}):  # (each K past the first chunk compiles a loop)
        dom = read_page(browser, path, k)
        assert dom["steps"] == str(total)
        assert dom["step"] == str(k)
        run = final if k == total and backend == "dense" else run_json(command, *args, "--max-steps", str(k),
                                                                       "--backend", backend)
        assert run["steps"] == k
        check_against_run(dom, run, machine)


@pytest.mark.parametrize("machine", list(CASES))
def test_the_page_at_each_checked_step_is_the_run(browser, pages, machine):
    """Against `looped run --backend dense` (the layer formula as written: the cheapest to compile
    in the default suite; the slow test below checks the default backend)."""
    check_steps(browser, pages, machine, "dense")


@pytest.mark.slow
@pytest.mark.parametrize("machine", list(CASES))
def test_the_page_at_each_checked_step_is_the_default_backends_run(browser, pages, machine):
    from kernels import DEFAULT_BACKEND

    check_steps(browser, pages, machine, DEFAULT_BACKEND)


def test_without_a_fragment_the_page_opens_at_step_0(browser, pages):
    path, _ = pages["subleq"]
    dom = read_page(browser, path, None)
    assert dom["step"] == "0"
    check_against_run(dom, run_json("run", *CASES["subleq"][0], "--max-steps", "0", "--backend", "dense"), "subleq")


def test_arrow_keys_step_and_update_the_fragment(browser, pages):
    path, _ = pages["subleq"]
    args = CASES["subleq"][0]
    tab = browser.open(f"file://{path}#step=3")
    for _ in range(3):
        tab.press("ArrowRight")
    dom = json.loads(tab.evaluate(READ_DOM))
    assert (dom["step"], dom["hash"]) == ("6", "#step=6")
    check_against_run(dom, run_json("run", *args, "--max-steps", "6", "--backend", "dense"), "subleq")
    tab.press("ArrowLeft")
    tab.press("ArrowLeft")
    dom = json.loads(tab.evaluate(READ_DOM))
    assert (dom["step"], dom["hash"]) == ("4", "#step=4")
    check_against_run(dom, run_json("run", *args, "--max-steps", "4", "--backend", "dense"), "subleq")
    tab.press("ArrowLeft")
    for _ in range(6):  # never below step 0
        tab.press("ArrowLeft")
    assert json.loads(tab.evaluate(READ_DOM))["step"] == "0"


def test_tape_keys_show_the_output_so_far(browser, pages):
    path, final = pages["tape"]
    tab = browser.open(f"file://{path}#step={final['steps'] - 2}")
    tab.press("ArrowRight")
    tab.press("ArrowRight")
    dom = json.loads(tab.evaluate(READ_DOM))
    assert dom["step"] == str(final["steps"])
    assert dom["output"] == final["output"] == "ereht iH"


class _Rows(html.parser.HTMLParser):
    """The memory rows of a dumped DOM: {label: the .value element's text}."""

    def __init__(self):
        super().__init__()
        self.rows, self.label, self.in_value, self.step, self.in_step = {}, None, False, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-cell" in attrs:
            self.label = attrs["data-cell"]
        if self.label is not None and "value" in (attrs.get("class") or "").split():
            self.in_value = True
            self.rows[self.label] = ""
        self.in_step = attrs.get("id") == "step"

    def handle_endtag(self, tag):
        if tag == "span":
            self.in_value = False

    def handle_data(self, data):
        if self.in_value:
            self.rows[self.label] += data
        if self.in_step:
            self.step, self.in_step = data, False


def test_dump_dom_of_a_fragment(browser, pages):
    """The simplest check a script can do: `chromium --headless --dump-dom file://PAGE#step=K`."""
    path, _ = pages["subleq"]
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([browser.binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                              "--no-first-run", "--disable-background-networking", "--disable-component-update",
                              "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", f"file://{path}#step=9"],
                             capture_output=True, text=True, timeout=60).stdout
    rows = _Rows()
    rows.feed(dom)
    assert rows.step == "9"
    run = run_json("run", *CASES["subleq"][0], "--max-steps", "9", "--backend", "dense")
    assert {label: json.loads(text) for label, text in rows.rows.items()} == run["memory"]


@pytest.mark.slow
def test_a_10000_step_page_is_small_and_opens_quickly(browser, tmp_path):
    """The issue's bound: 10^4 steps in at most 20 MB, open in at most 3 s (benchmarks/view_page.py
    measures it with repeats)."""
    path = tmp_path / "long.html"
    status, _, err = run_cli("view", "programs/gcd.asm", "--set", "a=30000", "--set", "b=1", "--max-steps", "10000",
                             "-o", str(path))
    assert status == 0, err
    assert path.stat().st_size <= 20e6
    tab = browser.open("about:blank")
    assert tab.navigate(f"file://{path}#step=10000") <= 3.0
    assert json.loads(tab.evaluate(READ_DOM))["steps"] == "10000"


@pytest.mark.slow
def test_a_c_program_shows_its_output_and_source_line(browser, tmp_path):
    path = tmp_path / "hello.html"
    status, _, err = run_cli("view", "tests/c/hello.c", "-o", str(path))
    assert status == 0, err
    final = run_json("run", "tests/c/hello.c")
    for k in (0, final["steps"] // 2, final["steps"]):
        tab = browser.open(f"file://{path}#step={k}")
        dom = json.loads(tab.evaluate(READ_DOM))
        assert dom["steps"] == str(final["steps"]) and dom["step"] == str(k)
        assert dom["output"] == run_json("run", "tests/c/hello.c", "--max-steps", str(k))["output"]
    assert 'printf("Hello, world!' in tab.evaluate("document.getElementById('listing').textContent")
    assert tab.evaluate("document.querySelector('#listing .ran').textContent").strip()  # the line that ran


def test_slider_play_and_fragment_changes_move_the_page(browser, pages):
    import time

    path, final = pages["subleq"]
    tab = browser.open(f"file://{path}#step=2")
    tab.evaluate("var s = document.getElementById('slider'); s.value = '40'; s.dispatchEvent(new Event('input'))")
    assert json.loads(tab.evaluate(READ_DOM))["hash"] == "#step=40"
    tab.evaluate("location.hash = '#step=7'")
    time.sleep(0.2)
    assert json.loads(tab.evaluate(READ_DOM))["step"] == "7"
    tab.evaluate("document.getElementById('play').click()")
    time.sleep(0.8)
    tab.evaluate("document.getElementById('play').click()")  # pause
    played = int(json.loads(tab.evaluate(READ_DOM))["step"])
    assert 7 < played < final["steps"]
    time.sleep(0.4)
    assert int(json.loads(tab.evaluate(READ_DOM))["step"]) == played  # paused


def test_a_window_is_said_and_steps_before_it_open_at_its_start(browser, tmp_path):
    path = tmp_path / "window.html"
    status, _, err = run_cli("view", *CASES["subleq"][0], "--window", "40", "-o", str(path))
    assert status == 0, err
    tab = browser.open(f"file://{path}#step=3")
    dom = json.loads(tab.evaluate(READ_DOM))
    total = int(dom["steps"])
    assert dom["step"] == str(total - 40)
    assert "last 40 steps" in tab.evaluate("document.getElementById('window-note').textContent")
    check_against_run(dom, run_json("run", *CASES["subleq"][0], "--max-steps", str(total - 40), "--backend", "dense"),
                      "subleq")
