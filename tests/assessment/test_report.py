"""Case and summary reports: files, JSON content, HTML structure with embedded PNG images."""

import base64
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from rich.console import Console

from igtwin.assessment import (
    EpisodeRecorder,
    compute_metrics,
    demo_episode_log,
    metrics_table,
    summarize_metrics,
    write_report,
    write_summary_report,
)

PNG = b"\x89PNG\r\n\x1a\n"


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.tds, self.stack = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.imgs.append(attrs)
        if tag == "td":
            self.tds.append(attrs.get("class"))
        if tag not in ("img", "meta", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()


def _parse(path):
    p = _Collect()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    assert p.stack == [], p.stack  # every element closed
    return p


@pytest.fixture(scope="module")
def logs():
    return demo_episode_log(), demo_episode_log(expert=True)


def test_case_report_with_expert(tmp_path, logs):
    trainee, expert = logs
    html_path = write_report(trainee, tmp_path / "case", expert_log=expert, title="Case <1>")
    assert html_path.name == "report.html"
    page = _parse(html_path)
    assert len(page.imgs) == 6  # trajectory, distance, force, dose, timeline, frames
    for img in page.imgs:
        assert img["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == PNG
    assert "worse" in page.tds  # the demo trainee is worse than the expert somewhere
    text = html_path.read_text(encoding="utf-8")
    assert "Case &lt;1&gt;" in text and "SUCCESS" in text
    for name in ("fig_trajectory.png", "fig_frames.png", "report.json"):
        assert (tmp_path / "case" / name).read_bytes()
    rep = json.loads((tmp_path / "case" / "report.json").read_text())
    m = rep["metrics"]["ka_r_mgy"]
    assert m["unit"] == "mGy" and m["comparison"] == "worse"
    assert m["difference"] == pytest.approx(m["value"] - m["expert"])
    assert m["value"] == pytest.approx(trainee.ka_r_mgy[-1])
    assert rep["metrics"]["smoothness"]["validity_source"]
    assert rep["run"]["scenario"] == "igtwin/Demo-v0" and rep["expert_run"]["n_steps"] == 60
    assert rep["dose"]["by_mode"]["cine"]["n_pulses"] == 15
    assert rep["scoring"] == {"success_radius_mm": 5.0, "force_threshold_n": 0.6}
    assert len(rep["events"]) == len(trainee.events)


def test_case_report_without_expert_or_frames(tmp_path):
    rec = EpisodeRecorder("s", 1, 0.2)
    for k in range(4):
        rec.record_step(0.2 * (k + 1), np.zeros(2), [k, 0, 0], [9, 0, 0], k, 9, [k], 0, 0, [0],
                        0, False, 0, 0, 0, 0)  # fmt: skip
    log = rec.finish(False, False, True, "step limit", 1, np.zeros((4, 2)))
    path = write_report(log, tmp_path, metrics=compute_metrics(log, names=["success"]))
    page = _parse(path)
    assert len(page.imgs) == 5  # no frames strip
    assert "NOT REACHED" in path.read_text(encoding="utf-8")
    rep = json.loads((tmp_path / "report.json").read_text())
    assert list(rep["metrics"]) == ["success"] and rep["metrics"]["success"]["expert"] is None


def test_summary_report(tmp_path, logs):
    trainee, expert = logs
    failed = demo_episode_log(seed=2)
    failed.success = False
    path = write_summary_report([trainee, expert, failed], tmp_path)
    _parse(path)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["n_episodes"] == 3 and s["success_rate"] == pytest.approx(2 / 3)
    ka = [lg.ka_r_mgy[-1] for lg in (trainee, expert, failed)]
    assert s["metrics"]["ka_r_mgy"]["mean"] == pytest.approx(np.mean(ka))
    assert s["metrics"]["ka_r_mgy"]["sd"] == pytest.approx(np.std(ka, ddof=1))
    assert s["metrics"]["ka_r_mgy"]["unit"] == "mGy"
    assert "66.7 %" in path.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="logs"):
        write_summary_report([], tmp_path)


def test_summarize_metrics_counts_missing():
    a = compute_metrics(demo_episode_log())
    b = {k: v for k, v in a.items() if k != "smoothness"}
    s = summarize_metrics([a, b])
    assert s["smoothness"]["n"] == 1 and s["smoothness"]["sd"] == 0.0 and s["success"]["n"] == 2


def test_metrics_table_renders(logs):
    trainee, expert = logs
    table = metrics_table(compute_metrics(trainee), compute_metrics(expert))
    console = Console(width=140, record=True)
    console.print(table)
    out = console.export_text()
    assert "ka_r_mgy" in out and "mGy" in out and "expert" in out
    assert len(table.columns) == 5 and len(metrics_table(compute_metrics(trainee)).columns) == 3


def test_needle_report_lists_needle_metrics(tmp_path):
    rec = EpisodeRecorder("needle", 0, 0.5, {"device_kind": "needle"})
    for k in range(3):
        rec.record_step(0.5 * (k + 1), np.zeros(1), [0, 0, 10.0 * k], [0, 0, 25], 0, 0,
                        [10.0 * k], 0, 0, [0], 0, True, 0.1 * k, 0.01 * k, 0, k)  # fmt: skip
    rec.record_event("no_go_contact", 1.0, {"structure": "artery"})
    log = rec.finish(False, True, False, "no-go structure touched", 0, np.zeros((3, 1)),
                     extras={"ablation_coverage": 1.0, "ablation_min_margin_mm": 3.0})  # fmt: skip
    path = write_report(log, tmp_path)
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["metrics"]["targeting_error_mm"]["value"] == 5.0
    assert rep["metrics"]["no_go_touched"]["category"] == "needle"
    assert rep["metrics"]["ablation_margin_ok"]["value"] == 0.0
    assert ">needle</td>" in path.read_text(encoding="utf-8")
