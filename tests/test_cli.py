"""The CLI end to end (in-process through typer's runner, and one real subprocess)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lookalike.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory, adult_small):
    path = tmp_path_factory.mktemp("data") / "adult.csv"
    adult_small.iloc[:1500].to_csv(path, index=False)
    return path


def test_train_generate_schema(tmp_path, small_csv):
    res = runner.invoke(app, ["train", str(small_csv), "-o", str(tmp_path / "m"),
                              "--generator", "independent", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert "Trained 'independent' on 1,500 rows x 15 columns" in res.output
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-n", "200",
                              "-o", str(tmp_path / "s.parquet"), "--seed", "1",
                              "--weight", "sex=Female:0.5"])
    assert res.exit_code == 0, res.output
    out = pd.read_parquet(tmp_path / "s.parquet")
    assert len(out) == 200 and (out["sex"] == "Female").sum() == 100
    res = runner.invoke(app, ["schema", str(small_csv)])
    assert res.exit_code == 0
    assert {c["name"] for c in json.loads(res.output)["columns"]} >= {"age", "income"}


def test_config_file_drives_the_run(tmp_path, small_csv):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("generator: independent\nseed: 5\nparams: {alpha: 0.5}\n"
                   "columns:\n  education-num: {kind: categorical}\n")
    res = runner.invoke(app, ["train", str(small_csv), "-o", str(tmp_path / "m"), "-c", str(cfg)])
    assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "m" / "schema.json").read_text())
    kinds = {c["name"]: c["kind"] for c in saved["columns"]}
    assert kinds["education-num"] == "categorical"
    model = json.loads((tmp_path / "m" / "model.json").read_text())
    assert model["generator_params"] == {"alpha": 0.5} and model["params"]["random_state"] == 5


def test_generate_options_from_config_file(tmp_path, small_csv):
    """Every option of `generate` can come from the config's 'generate' section; flags win."""
    assert runner.invoke(app, ["train", str(small_csv), "-o", str(tmp_path / "m"),
                               "--generator", "independent", "--seed", "3"]).exit_code == 0
    cfg = tmp_path / "gen.json"
    cfg.write_text(json.dumps({"generate": {
        "count": 120, "seed": 4, "output": "from_cfg.csv", "copy_guard": "off",
        "weights": {"sex": {"Female": 0.25}}}}))
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-c", str(cfg)])
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "from_cfg.csv")  # relative to the config file's folder
    assert len(out) == 120 and (out["sex"] == "Female").sum() == 30
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-c", str(cfg), "--seed", "4",
                              "--weight", "sex=Female:0.25", "-o", str(tmp_path / "a.csv"),
                              "-n", "120", "--copy-guard", "off"])
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), out)  # same run by flags
    # the command of the audit: flags for count and output, the rest from the file
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-n", "10",
                              "-o", str(tmp_path / "out.csv"), "-c", str(cfg)])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(tmp_path / "out.csv")) == 10
    yaml_cfg = tmp_path / "gen.yaml"
    yaml_cfg.write_text("seed: 1\ngenerate:\n  count: 400\n  balance: income\n"
                        "  output: balanced.parquet\n")
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-c", str(yaml_cfg)])
    assert res.exit_code == 0, res.output
    counts = pd.read_parquet(tmp_path / "balanced.parquet")["income"].value_counts()
    assert counts.tolist() == [200, 200]
    again = tmp_path / "again.parquet"  # the top-level seed seeds generate too
    runner.invoke(app, ["generate", str(tmp_path / "m"), "-c", str(yaml_cfg), "-o", str(again)])
    pd.testing.assert_frame_equal(pd.read_parquet(again),
                                  pd.read_parquet(tmp_path / "balanced.parquet"))


def test_generate_config_errors(tmp_path, small_csv):
    assert runner.invoke(app, ["train", str(small_csv), "-o", str(tmp_path / "m"),
                               "--generator", "independent"]).exit_code == 0
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "--count" in res.output  # neither flag nor config
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("generate: {count: 5, colour: red}\n")
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-o", str(tmp_path / "x.csv"),
                              "-c", str(cfg)])
    assert res.exit_code == 1 and "section 'generate': unknown option(s) ['colour']" in res.output
    cfg.write_text("generate: {count: 5, fair: income}\n")
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-o", str(tmp_path / "x.csv"),
                              "-c", str(cfg)])
    assert res.exit_code == 1 and "TARGET:SENSITIVE" in res.output
    cfg.write_text("generate: {count: 5, copy_guard: rare}\n")
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-o", str(tmp_path / "x.csv"),
                              "-c", str(cfg)])
    assert res.exit_code == 1 and "must be 'off' or this model's own mode 'all'" in res.output
    assert "Traceback" not in res.output


def test_user_errors_exit_1_without_traceback(tmp_path, small_csv):
    res = runner.invoke(app, ["train", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "m")])
    assert res.exit_code == 1 and "no such file" in res.output and "Traceback" not in res.output
    runner.invoke(app, ["train", str(small_csv), "-o", str(tmp_path / "m"),
                        "--generator", "independent"])
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-n", "0", "-o",
                              str(tmp_path / "x.csv")])
    assert res.exit_code == 1 and "positive integer" in res.output
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-n", "5", "-o",
                              str(tmp_path / "x.csv"), "--balance", "colour"])
    assert res.exit_code == 1 and "'colour' does not exist" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("generatr: linear\n")
    res = runner.invoke(app, ["train", str(small_csv), "-o", str(tmp_path / "m"), "-c", str(bad)])
    assert res.exit_code == 1 and "unknown option(s) ['generatr']" in res.output


def test_constant_column_is_an_error_unless_declared(tmp_path, small_csv):
    data = tmp_path / "const.csv"
    pd.read_csv(small_csv).iloc[:300].assign(country="AT").to_csv(data, index=False)
    res = runner.invoke(app, ["train", str(data), "-o", str(tmp_path / "m"),
                              "--generator", "independent"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    text = " ".join(res.output.split())
    assert "column 'country' holds one value ('AT') in every row" in text
    assert 'Drop the column, or declare it constant' in text
    assert not (tmp_path / "m").exists()
    cfg = tmp_path / "const.yaml"  # the declaration the message suggests, pasted as is
    cfg.write_text('{"columns": {"country": {"kind": "constant", "value": "AT"}}}\n')
    res = runner.invoke(app, ["train", str(data), "-o", str(tmp_path / "m"),
                              "--generator", "independent", "-c", str(cfg)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-n", "50",
                              "-o", str(tmp_path / "s.csv")])
    assert res.exit_code == 0, res.output
    assert (pd.read_csv(tmp_path / "s.csv")["country"] == "AT").all()


def test_data_errors_name_the_file_and_the_line(tmp_path):
    mixed = [f"{20 + i},{'ab'[i % 2]}" for i in range(40)]
    mixed[7] = "abc,a"  # data row 8, line 9 of the file (after the header)
    data = tmp_path / "people.csv"
    data.write_text("age,group\n" + "\n".join(mixed) + "\n")
    for command in (["train", str(data), "-o", str(tmp_path / "m")], ["schema", str(data)]):
        res = runner.invoke(app, command)
        assert res.exit_code == 1 and "Traceback" not in res.output
        text = " ".join(res.output.split())
        assert text.startswith(f"Error: {data}: column 'age' has mixed types: 1 of 40 values")
        assert "the first 'abc' in data row 8 (line 9 of the file)" in text
    # a cell that the declared kind cannot read is named the same way (by the encoder)
    rows = [f"{20 + i},{'ab'[i % 2]}" for i in range(40)]
    rows[3] = "unknown,b"
    rows[5] = "?,a"
    rows[9] = "old,a"  # 3 of 40: no longer "mixed" by inference, but declared numeric
    data.write_text("age,group\n" + "\n".join(rows) + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("columns: {age: {kind: numeric, dtype: int}}\n")
    res = runner.invoke(app, ["train", str(data), "-o", str(tmp_path / "m"), "-c", str(cfg)])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert f"Error: {data}: column 'age' is numeric but 3 value(s)" in text
    assert "the first 'unknown' in data row 4 (line 5 of the file)" in text
    # several problems: the file once, then the list
    data.write_text("age,group,gone\n" + "\n".join(f"{r}," for r in mixed) + "\n")
    res = runner.invoke(app, ["train", str(data), "-o", str(tmp_path / "m")])
    assert res.exit_code == 1
    assert f"Error: {data}: 2 problems in the data:" in " ".join(res.output.split())
    assert "'gone' is entirely missing" in res.output


def test_generate_refuses_bad_model_files_clearly(tmp_path, small_csv):
    """A model from a newer lookalike, or a corrupted one: exit 1, one clear message."""
    from lookalike.persistence import FORMAT_VERSION

    model = tmp_path / "m"
    assert runner.invoke(app, ["train", str(small_csv), "-o", str(model),
                               "--generator", "independent"]).exit_code == 0
    meta_path = model / "model.json"
    good = meta_path.read_text()

    def generate() -> str:
        res = runner.invoke(app, ["generate", str(model), "-n", "5",
                                  "-o", str(tmp_path / "s.csv")])
        assert res.exit_code == 1, res.output
        assert "Traceback" not in res.output and res.exception.__class__ is SystemExit
        assert not (tmp_path / "s.csv").exists()
        return " ".join(res.output.split())

    meta = json.loads(good)
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    assert (f"Error: {model} was written by a newer lookalike (model format 99; this "
            f"version reads up to {FORMAT_VERSION}). Upgrade lookalike") in generate()
    meta_path.write_text(good[: len(good) // 2])  # truncated
    assert f"Error: {model}/model.json is not valid JSON" in generate()
    meta_path.write_text(good)
    (model / "arrays.safetensors").write_bytes(b"\x00garbage")
    assert f"Error: {model}/arrays.safetensors is not a valid safetensors file" in generate()
    (model / "arrays.safetensors").unlink()
    assert f"Error: {model} lacks arrays.safetensors" in generate()
    model = tmp_path / "absent"
    assert f"Error: {model}: no such model file or directory." in generate()


def test_usage_errors_exit_2(tmp_path):
    assert runner.invoke(app, ["train"]).exit_code == 2
    assert runner.invoke(app, ["generate", "m", "-n", "x", "-o", "o.csv"]).exit_code == 2


def test_demo_writes_outputs(tmp_path):
    res = runner.invoke(app, ["demo", "-o", str(tmp_path / "d"), "--generator", "independent"])
    assert res.exit_code == 0, res.output
    for name in ("synthetic.csv", "summary.md", "summary.json", "model"):
        assert (tmp_path / "d" / name).exists()
    assert len(pd.read_csv(tmp_path / "d" / "synthetic.csv")) == 4000
    licence = [line for line in (tmp_path / "d" / "summary.md").read_text().splitlines()
               if "CC BY 4.0" in line]
    assert licence == [("Data: UCI Adult (Becker & Kohavi 1996, https://doi.org/10.24432/C5XW20), "
                        "licensed CC BY 4.0; see lookalike/data/LICENSE-adult.md.")]
    assert sum("CC BY 4.0" in line for line in res.output.splitlines()) == 1  # the console
    assert json.loads((tmp_path / "d" / "summary.json").read_text())["licence"] == licence[0]


def test_help_is_fast_and_lazy():
    code = ("import sys, time; t = time.time(); import lookalike.cli; "
            "print(time.time() - t); "
            "print(int(any(m in sys.modules for m in ('torch', 'lightgbm', 'matplotlib', "
            "'sklearn'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[1] == "0", "heavy libraries imported at CLI start"
    script = Path(sys.executable).with_name("lookalike")  # the installed console script
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lookalike.cli"]
    times = []
    for _ in range(3):  # best of 3: one slow start on a busy machine is not the CLI's
        start = time.perf_counter()
        subprocess.run([*command, "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    assert min(times) < 1.0, f"`lookalike --help` took {min(times):.2f} s at best"


def test_generate_fair(tmp_path, small_csv):
    cfg = tmp_path / "ar.yaml"
    cfg.write_text("generator: autoregressive\nseed: 1\nparams: {max_epochs: 4, hidden: 16}\n")
    res = runner.invoke(app, ["train", str(small_csv), "-o", str(tmp_path / "m"), "-c", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "epoch" not in res.output  # per-epoch progress goes to the spinner line only
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-n", "10000", "-o",
                              str(tmp_path / "f.csv"), "--seed", "2", "--fair", "income:sex"])
    assert res.exit_code == 0, res.output
    gap = float(res.output.rsplit("groups in the output:", 1)[1].split()[0])
    assert gap < 0.05
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-n", "30", "-o",
                              str(tmp_path / "f.csv"), "--fair", "income"])
    assert res.exit_code == 1 and "TARGET:SENSITIVE" in res.output
    cfg = tmp_path / "fair.yaml"  # the same request from a config file
    cfg.write_text("generate: {count: 500, seed: 3, fair: {target: income, sensitive: sex}}\n")
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-o", str(tmp_path / "c.csv"),
                              "-c", str(cfg)])
    assert res.exit_code == 0 and "Parity gap of income across sex" in res.output
    runner.invoke(app, ["generate", str(tmp_path / "m"), "-o", str(tmp_path / "d.csv"),
                        "-n", "500", "--seed", "3", "--fair", "income:sex"])
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "c.csv"),
                                  pd.read_csv(tmp_path / "d.csv"))


def test_interrupted_training_keeps_the_best_weights(tmp_path, small_csv, monkeypatch):
    """Ctrl-C during training: the best weights so far are saved and the CLI says so."""
    from lookalike.models.autoregressive import train

    real = train.batch_loss
    calls = {"n": 0}

    def loss(*args):
        calls["n"] += 1
        if calls["n"] == 40:  # a few epochs in
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train, "batch_loss", loss)
    cfg = tmp_path / "ar.yaml"
    cfg.write_text("generator: autoregressive\nseed: 1\nparams: {max_epochs: 50, hidden: 16}\n")
    res = runner.invoke(app, ["train", str(small_csv), "-o", str(tmp_path / "m"), "-c", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "interrupted (Ctrl-C)" in res.output and "best weights" in res.output
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-n", "50", "-o",
                              str(tmp_path / "s.csv")])
    assert res.exit_code == 0 and len(pd.read_csv(tmp_path / "s.csv")) == 50


def test_step_follows_a_logger_without_printing_it():
    """_step shows a followed logger's messages on its spinner line, not as log lines."""
    import logging

    from lookalike.cli import _ProgressHandler, _setup_logging, _step

    _setup_logging(False)
    log = logging.getLogger("lookalike.models.test_follow")
    with _step("Training", "lookalike.models") as _:
        handlers = [h for h in logging.getLogger("lookalike.models").handlers
                    if isinstance(h, _ProgressHandler)]
        assert len(handlers) == 1
        log.debug("epoch 3/10: train [1.0]")  # markup-like text must not break rich
        task = handlers[0].progress.tasks[0]
        assert "epoch 3/10" in task.description and task.description.startswith("Training")
    assert not [h for h in logging.getLogger("lookalike.models").handlers
                if isinstance(h, _ProgressHandler)]
    assert logging.getLogger("lookalike.models").level == logging.NOTSET


def test_generate_calibrate_flag_and_config(tmp_path, small_csv):
    """DP models sample calibrated by default; --no-calibrate (or calibrate: false in the
    config) gives the model's rows as drawn; a non-DP model refuses --calibrate."""
    cfg = tmp_path / "dp.yaml"
    cfg.write_text("generator: autoregressive\nparams:\n  dp: {epsilon: 1.0}\n  max_epochs: 1\n"
                   "  hidden: 16\n")
    res = runner.invoke(app, ["train", str(small_csv), "-o", str(tmp_path / "m"), "-c", str(cfg),
                              "--seed", "1"])
    assert res.exit_code == 0, res.output
    outs = {}
    for name, extra in (("cal", []), ("raw", ["--no-calibrate"]), ("cal2", ["--calibrate"])):
        res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-n", "200", "--seed", "2",
                                  "-o", str(tmp_path / f"{name}.csv"), *extra])
        assert res.exit_code == 0, res.output
        outs[name] = pd.read_csv(tmp_path / f"{name}.csv")
    pd.testing.assert_frame_equal(outs["cal"], outs["cal2"])
    assert not outs["cal"].equals(outs["raw"])
    gen_cfg = tmp_path / "gen.yaml"
    gen_cfg.write_text("generate:\n  calibrate: false\n")
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-n", "200", "--seed", "2",
                              "-o", str(tmp_path / "raw2.csv"), "-c", str(gen_cfg)])
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "raw2.csv"), outs["raw"])
    gen_cfg.write_text("generate:\n  calibrate: maybe\n")
    res = runner.invoke(app, ["generate", str(tmp_path / "m"), "-n", "5", "-o",
                              str(tmp_path / "x.csv"), "-c", str(gen_cfg)])
    assert res.exit_code == 1 and "'calibrate' must be true or false" in res.output
    assert runner.invoke(app, ["train", str(small_csv), "-o", str(tmp_path / "plain"),
                               "--generator", "independent"]).exit_code == 0
    res = runner.invoke(app, ["generate", str(tmp_path / "plain"), "-n", "5", "-o",
                              str(tmp_path / "y.csv"), "--calibrate"])
    assert res.exit_code == 1 and "differential privacy" in res.output
