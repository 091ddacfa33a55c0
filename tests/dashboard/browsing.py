"""Helpers for driving the dashboard in the browser: bounded waits and screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

T = TypeVar("T")
WAIT_SECONDS = 20.0
# Set to a folder (e.g. docs/) to keep copies of the screenshots: how the README's
# images are regenerated (PRIOSCORE_SCREENSHOTS=docs make test).
KEEP = os.environ.get("PRIOSCORE_SCREENSHOTS", "")


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], T]) -> T:
    """A browser condition, polled, for at most WAIT_SECONDS (never a bare sleep)."""
    return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05).until(condition)


def row_ids(driver: WebDriver, table: str) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr[data-entity]")
    return [r.get_attribute("data-entity") or "" for r in rows]


def screenshot(driver: WebDriver, folder: Path, name: str) -> Path:
    """A full-window PNG under the test's output folder (and KEEP, when set)."""
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot {path}"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    if KEEP:
        shutil.copyfile(path, Path(KEEP) / f"dashboard-{name}.png")
    return path
