"""`lookalike evaluate` / `lookalike report`: outputs, gates and exit codes."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from lookalike.evaluate.cli import EXIT_GATE_FAILED, register

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture(scope="module")
def files(tmp_path_factory, train, copies30, holdout):
    d = tmp_path_factory.mktemp("cli")
    train.iloc[:1500].to_csv(d / "train.csv", index=False)
    copies30.iloc[:1500].to_csv(d / "synth.csv", index=False)
    holdout.iloc[:1500].to_csv(d / "test.csv", index=False)
    return d


def _args(d, *extra):
    return ["evaluate", "--real", str(d / "train.csv"), "--synthetic", str(d / "synth.csv"),
            "--holdout", str(d / "test.csv"), "--target", "income",
            "--skip", "regression,discriminator", *extra]


def test_evaluate_writes_metrics_and_report_and_passes_gates(app, files):
    out = files / "ok"
    res = runner.invoke(app, _args(files, "-o", str(out), "--quasi-identifier", "age,sex",
                                   "--require", "fidelity>=0.8"))
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["meta"]["quasi_identifiers"] == ["age", "sex"]
    assert (out / "report.html").stat().st_size > 50_000
    assert "1 requirement(s) met" in res.output


def test_failed_gate_exits_3_and_names_the_requirement(app, files):
    res = runner.invoke(app, _args(files, "-o", str(files / "gate"), "--no-html", "--quiet",
                                   "--require", "dcr_share<=0.53", "--require", "mia_auc<=0.55",
                                   "--require", "fidelity>=0.5"))
    assert res.exit_code == EXIT_GATE_FAILED
    assert "dcr_share<=0.53 failed: dcr_share is 0.5" in res.output
    assert "mia_auc<=0.55 failed" in res.output and "fidelity>=0.5" not in res.output
    assert (files / "gate" / "metrics.json").exists()


def test_usage_and_user_errors(app, files, tmp_path):
    res = runner.invoke(app, _args(files, "--require", "fidelty>=0.9"))
    assert res.exit_code == 2 and "unknown metric 'fidelty'" in res.output
    res = runner.invoke(app, _args(files, "--skip", "speed"))
    assert res.exit_code == 2
    res = runner.invoke(app, ["evaluate", "--real", str(tmp_path / "none.csv"),
                              "--synthetic", str(files / "synth.csv")])
    assert res.exit_code == 1 and "no such file" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    (tmp_path / "narrow.csv").write_text("age,sex\n" + "30,Male\n" * 20)
    res = runner.invoke(app, ["evaluate", "--real", str(files / "train.csv"),
                              "--synthetic", str(tmp_path / "narrow.csv")])
    assert res.exit_code == 1 and "lacks column(s)" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_report_command_rerenders_from_metrics(app, files, tmp_path):
    src = files / "gate"
    if not (src / "metrics.json").exists():
        pytest.skip("needs the gate test's output")
    res = runner.invoke(app, ["report", str(src / "metrics.json"), "-o",
                              str(tmp_path / "again.html"), "--title", "Adult check"])
    assert res.exit_code == 0, res.output
    assert "Adult check" in (tmp_path / "again.html").read_text()
    res = runner.invoke(app, ["report", str(tmp_path / "missing.json")])
    assert res.exit_code == 1 and "no such file" in res.output
