"""The ``lookalike`` command line: thin commands over the Python API.

Exit codes: 0 success; 1 a user error (bad data, parameter, file) with a one-line message
and no traceback; 2 a usage error (unknown option, missing argument).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

app = typer.Typer(
    name="lookalike",
    help="Learn a sensitive table and generate private, useful synthetic records.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
T = TypeVar("T")
log = logging.getLogger("lookalike")


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    handler = RichHandler(console=_console(), show_path=False, show_time=False)
    # the handler's own level: records that a step's progress line asks for (DEBUG on
    # lookalike.models, see _step) must not be printed as log lines too
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(message)s", handlers=[handler], force=True)


def _run(fn: Callable[[], T]) -> T:
    """Run a command body; LookalikeError -> message on stderr + exit 1."""
    from lookalike.errors import LookalikeError

    try:
        return fn()
    except LookalikeError as exc:
        from rich.text import Text

        _console().print(Text.assemble(("Error: ", "bold red"), str(exc)), soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        _console().print("[yellow]Interrupted.[/]")
        raise typer.Exit(130) from None


def _usage_error(message: str) -> None:
    """A usage error found inside a command: the message on stderr, exit code 2."""
    from rich.text import Text

    _console().print(Text.assemble(("Usage error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(2)


def _say_if_interrupted(syn: Any) -> None:
    """After Ctrl-C during training: what was kept and how to go on."""
    report = getattr(syn.generator_, "report_", None)

    def get(key: str) -> Any:
        return report.get(key) if isinstance(report, dict) else getattr(report, key, None)

    if report is None or get("stop_reason") != "interrupted":
        return
    _console().print(
        f"[yellow]Training was interrupted (Ctrl-C) after {get('epochs')} epoch(s); the model "
        f"written holds the best weights so far (epoch {get('best_epoch')}). Use it as it is, "
        "or train again from the start with more time: params max_epochs / "
        "max_training_time in the config file (-c).[/]", soft_wrap=True)


@contextmanager
def _step(label: str, follow: str | None = None) -> Iterator[None]:
    """A spinner with elapsed time on stderr for one slow step; with ``follow`` (a logger
    name) the latest message of that logger (epochs, losses) is shown beside the label."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=_console(), transient=True) as progress:
        task = progress.add_task(label, total=None)
        if follow is None:
            yield
            return
        logger = logging.getLogger(follow)
        handler = _ProgressHandler(progress, task, label)
        old_level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)


class _ProgressHandler(logging.Handler):
    """Puts each log message of a followed logger on the spinner line."""

    def __init__(self, progress: Any, task: Any, label: str) -> None:
        super().__init__(logging.DEBUG)
        self.progress, self.task, self.label = progress, task, label

    def emit(self, record: logging.LogRecord) -> None:
        from rich.markup import escape

        message = escape(record.getMessage().splitlines()[0][:70])
        self.progress.update(self.task, description=f"{self.label} [dim]{message}[/]")


ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML/JSON run config.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed (reproducible runs).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")]


def _read(data: Path, cfg: Any, encoding: str | None, delimiter: str | None):
    from lookalike.io import read_table

    read = dict(cfg.read)
    if encoding:
        read["encoding"] = encoding
    if delimiter:
        read["delimiter"] = delimiter
    return read_table(data, **read)


def _schema_for(df: Any, cfg: Any, rare_k: int):
    from lookalike.schema import Schema, infer

    if cfg.schema:
        schema = Schema.from_json(Path(cfg.schema).read_text(encoding="utf-8"))
    else:
        schema = infer(df, rare_k=rare_k)
    if cfg.columns:
        schema = schema.with_overrides(cfg.columns)
    return schema


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="CSV/Parquet file or folder of them.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory (or .zip).")],
    config: ConfigOpt = None,
    generator: Annotated[str | None, typer.Option(help="Generator name.")] = None,
    seed: SeedOpt = None,
    target: Annotated[str | None, typer.Option(help="Target column.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Input text encoding.")] = None,
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter.")] = None,
    no_guard_file: Annotated[bool, typer.Option(
        "--no-guard-file", help="Leave the copy-guard hashes out of the model file.")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Learn DATA and write a model to OUTPUT."""
    _setup_logging(verbose)

    def body() -> None:
        from lookalike.config import load_config
        from lookalike.errors import data_source
        from lookalike.synthesizer import Synthesizer

        start = time.perf_counter()
        cfg = load_config(config)
        kwargs = cfg.synthesizer_kwargs()
        if target:
            kwargs["target"] = target
        with _step(f"Reading {data}"), data_source(data):
            df = _read(data, cfg, encoding, delimiter)
        syn = Synthesizer(generator or cfg.generator or "linear",
                          random_state=seed if seed is not None else cfg.seed,
                          **kwargs, **cfg.params)
        with data_source(data):  # data problems name the input file
            schema = _schema_for(df, cfg, syn.rare_k)
            with _step(f"Training {syn.generator!r} on {len(df):,} rows", "lookalike.models"):
                syn.fit(df, schema=schema)
        with _step(f"Writing {output}"):
            syn.save(output, include_guard=not no_guard_file)
        report = syn.privacy_report()
        eps = report["epsilon_spent"]
        privacy = f"DP epsilon spent {eps:.3g}" if eps is not None else "no DP"
        typer.echo(f"Trained {syn.generator!r} on {len(df):,} rows x {df.shape[1]} columns "
                   f"in {time.perf_counter() - start:.1f} s ({privacy}); model: {output}")
        _say_if_interrupted(syn)

    _run(body)


@app.command()
def generate(
    model: Annotated[Path, typer.Argument(help="Model written by `lookalike train`.")],
    count: Annotated[int | None, typer.Option(
        "--count", "-n", help="Rows to generate (or generate.count in the config).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Output .csv or .parquet (or generate.output).")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="YAML/JSON run config; its 'generate' section sets any "
                               "option below, flags win.")] = None,
    seed: SeedOpt = None,
    balance: Annotated[str | None, typer.Option(
        help="Give every category of this column the same share.")] = None,
    weight: Annotated[list[str] | None, typer.Option(
        help="COLUMN=CATEGORY:SHARE, e.g. sex=Female:0.5 (repeatable, one column).")] = None,
    fair: Annotated[str | None, typer.Option(
        help="TARGET:SENSITIVE, e.g. income:sex: make TARGET independent of SENSITIVE "
             "(demographic parity; autoregressive models).")] = None,
    copy_guard: Annotated[str | None, typer.Option(
        "--copy-guard", help="'off' skips the exact-copy guard; default: the mode the "
                             "model was trained with.")] = None,
    calibrate: Annotated[bool | None, typer.Option(
        "--calibrate/--no-calibrate", help="Keep the rows of a larger pool that match the "
        "model's calibration targets: the marginals released under DP (default for DP "
        "models), or an autoregressive model's training shares and 2-way tables (slower; "
        "off by default).")] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Generate COUNT synthetic rows from MODEL into OUTPUT."""
    _setup_logging(verbose)

    def body() -> None:
        from lookalike.config import load_config, parse_fair
        from lookalike.errors import InvalidParameterError
        from lookalike.io import write_table
        from lookalike.synthesizer import Synthesizer

        start = time.perf_counter()
        cfg = load_config(config).generate
        n = count if count is not None else cfg.count
        out_path = output if output is not None else cfg.output
        if n is None or out_path is None:
            missing, key = ("--count' / '-n", "count") if n is None else ("--output' / '-o",
                                                                         "output")
            _usage_error(f"Missing option '{missing}' (or '{key}' in the 'generate' section "
                         "of a config file, -c).")
        if n <= 0:
            raise InvalidParameterError(f"--count must be a positive integer; got {n}.")
        out_path = Path(out_path)
        if out_path.suffix.lower() not in (".csv", ".parquet", ".pq", ".tsv", ".gz"):
            raise InvalidParameterError(
                f"Cannot tell the output format of {out_path}: use .csv or .parquet.")
        syn = Synthesizer.load(model)
        weights = _parse_weights(weight) if weight else cfg.weights
        fairness = parse_fair(fair) if fair is not None else cfg.fair
        with _step(f"Generating {n:,} rows"):
            df = syn.sample(n, seed=seed if seed is not None else cfg.seed,
                            balance=balance if balance is not None else cfg.balance,
                            weights=weights, fairness=fairness,
                            copy_guard=copy_guard if copy_guard is not None else cfg.copy_guard,
                            calibrate=calibrate if calibrate is not None else cfg.calibrate)
        write_table(df, out_path)
        info = syn.last_sample_info_
        typer.echo(f"Wrote {len(df):,} rows x {df.shape[1]} columns to {out_path} in "
                   f"{time.perf_counter() - start:.1f} s ({info['copies_dropped']} exact "
                   "copies of training rows dropped and regenerated)")
        if fairness is not None:
            from lookalike.fairness import parity_gap

            gap = parity_gap(df, fairness["target"], fairness["sensitive"])["gap"]
            typer.echo(f"Parity gap of {fairness['target']} across {fairness['sensitive']} "
                       f"groups in the output: {gap:.3f}")

    _run(body)


def _parse_weights(items: list[str]) -> dict[str, dict[str, float]]:
    from lookalike.errors import InvalidParameterError

    out: dict[str, dict[str, float]] = {}
    for item in items:
        col, sep, rest = item.partition("=")
        cat, sep2, share = rest.rpartition(":")
        try:
            value = float(share)
        except ValueError:
            value = None
        if not sep or not sep2 or value is None:
            raise InvalidParameterError(
                f"--weight {item!r} must look like COLUMN=CATEGORY:SHARE, e.g. sex=Female:0.5.")
        out.setdefault(col, {})[cat] = value
    return out


@app.command()
def schema(
    data: Annotated[Path, typer.Argument(help="CSV/Parquet file or folder.")],
    config: ConfigOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write the JSON here.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Input text encoding.")] = None,
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter.")] = None,
) -> None:
    """Print the schema inferred for DATA (edit it and pass it back in a config)."""
    _setup_logging(False)

    def body() -> None:
        from lookalike.config import load_config
        from lookalike.errors import data_source
        from lookalike.io import write_text_atomic

        cfg = load_config(config)
        with data_source(data):
            df = _read(data, cfg, encoding, delimiter)
            text = _schema_for(df, cfg, cfg.rare_k or 5).to_json()
        if output:
            write_text_atomic(output, text + "\n")
        else:
            typer.echo(text)

    _run(body)


@app.command()
def generators() -> None:
    """List the available generators."""
    from lookalike.models.registry import available

    for name in available():
        typer.echo(name)


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("lookalike-demo"),
    generator: Annotated[str, typer.Option(help="Generator name.")] = "linear",
    seed: SeedOpt = 0,
) -> None:
    """Train on a bundled slice of UCI Adult, generate rows, write them and a summary."""
    _setup_logging(False)

    def body() -> None:
        from lookalike.demo import run_demo

        with _step("Running the demo on a bundled slice of UCI Adult"):
            summary = run_demo(Path(output), generator=generator, seed=seed)
        typer.echo(summary)

    _run(body)


def _register_plugins() -> None:
    try:
        from lookalike.evaluate.cli import register
    except ImportError:
        return
    register(app)


_register_plugins()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)

__all__ = ["app", "main"]
