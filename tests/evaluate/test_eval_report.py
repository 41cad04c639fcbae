"""The HTML report: self-contained, readable, and rendered by a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lookalike.evaluate.report import fmt, render_html

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                  "chrome", "headless_shell")


@pytest.fixture(scope="module")
def report_file(fresh_result, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(fresh_result.metrics), encoding="utf-8")
    return path


def test_report_is_self_contained_and_complete(report_file, fresh_result):
    page = report_file.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)="(https?:)?//', page), "external resources"
    assert page.count("<svg ") >= 15 + 3  # columns, heat maps, DCR, MAD (inline SVG)
    for heading in ("Column by column", "Relationships between columns",
                    "Usefulness for machine learning", "Privacy", "Data and method"):
        assert heading in page
    s = fresh_result.summary
    assert fmt(s["fidelity"], percent=True) in page
    assert fmt(s["tstr_auc"]) in page and fmt(s["trtr_auc"]) in page
    assert "PASS" in page.upper()


def test_report_renders_in_headless_chromium(report_file, tmp_path):
    binary = next((b for b in map(shutil.which, CHROMIUM_NAMES) if b), None)
    if binary is None:
        pytest.skip("no chromium binary (CI installs Debian's chromium package)")
    shot = tmp_path / "shot.png"
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
           f"--screenshot={shot}", "--window-size=1280,2400", report_file.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 10_000, "no screenshot written"
    import matplotlib.image
    import numpy as np

    img = matplotlib.image.imread(shot)[:, :, :3]
    assert img.shape[:2] == (2400, 1280)
    colours = np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 200, "the page looks blank"
    background = np.all(np.abs(img - img[5, 5]) < 0.02, axis=-1).mean()
    assert background < 0.9, "the page looks blank"
