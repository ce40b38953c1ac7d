"""Shared by the `looped view` tests: the headless browser, skipped only where no chromium is
installed (.ci/run installs it)."""

import pytest


@pytest.fixture(scope="session")
def browser():
    from looped.view.browser import Browser, find_chromium

    if find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    with Browser() as b:
        yield b
