"""``lookalike evaluate`` and ``lookalike report``: thin commands over :mod:`lookalike.evaluate`.

The main application calls :func:`register` to add both commands. Exit codes:

* 0 — done, and every ``--require`` holds;
* 1 — a user error (unreadable file, mismatched columns, bad target...): one line on stderr,
  no traceback;
* 2 — a usage error (unknown option, malformed or unknown ``--require``);
* 3 — the evaluation ran but a ``--require`` gate failed (each failure is printed).

Examples
--------
>>> import typer
>>> app = typer.Typer()
>>> register(app)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_USAGE = 2
EXIT_GATE_FAILED = 3


def _one_line(exc: BaseException) -> str:
    problems = getattr(exc, "problems", None)
    if problems and len(problems) > 1:
        text = f"{len(problems)} problems: " + "; ".join(str(p) for p in problems)
        source = getattr(exc, "source", None)
        return f"{source}: {text}" if source else text
    return " ".join(str(exc).split())


def _fail(console: Console, exc: BaseException) -> typer.Exit:
    console.print(f"[bold red]Error:[/] {_one_line(exc)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USER_ERROR)


def _read(path: Path, what: str) -> pd.DataFrame:
    from lookalike.io import read_table

    df = read_table(path)
    log.info("read %s: %s (%d rows x %d columns)", what, path, len(df), df.shape[1])
    return df


def _summary_table(metrics: dict[str, Any]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    from lookalike.evaluate.report import fmt

    s, v = metrics["summary"], metrics["verdict"]
    key = "r2" if s.get("tstr_r2") is not None else "auc"
    model_metric = "R²" if key == "r2" else "AUC"
    table = Table(title="Evaluation summary", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("ideal", justify="right", style="dim")
    rows = [
        ("fidelity", fmt(s.get("fidelity")), "1", v.get("fidelity")),
        ("QA accuracy (mostlyai-qa)", fmt(s.get("qa_accuracy")), "1", None),
        ("discriminator AUC", fmt(s.get("discriminator_auc")), "0.5", None),
        (f"TRTR → TSTR {model_metric}",
         f"{fmt(s.get('trtr_' + key))} → {fmt(s.get('tstr_' + key))}", "equal", None),
        ("utility gap", fmt(s.get("utility_gap")), "0", v.get("utility")),
        ("DCR share", fmt(s.get("dcr_share")), "0.5", None),
        ("membership-inference AUC", fmt(s.get("mia_auc")), "0.5", None),
        ("exact copies",
         f"{fmt(s.get('exact_copies'))} ({fmt(s.get('exact_copy_share'), percent=True)})", "0",
         None),
        ("privacy verdict", str(v.get("privacy", "unknown")).upper(), "PASS", None),
    ]
    for name, value, ideal, grade in rows:
        suffix = f"  ({grade})" if grade and grade != "unknown" else ""
        table.add_row(escape(name), escape(value + suffix), ideal)
    return table


def evaluate_command(
    real: Annotated[Path, typer.Option("--real", help="Real training table (CSV/Parquet/folder).")],
    synthetic: Annotated[Path, typer.Option("--synthetic", help="Synthetic table to evaluate.")],
    holdout: Annotated[
        Path | None,
        typer.Option("--holdout", help="Real rows the generator never saw (e.g. the test split); "
                                        "needed for utility, DCR share and membership inference."),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Column to predict for the utility metrics.")
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for metrics.json and report.html.")
    ] = Path("report"),
    schema: Annotated[
        Path | None, typer.Option("--schema", help="Schema JSON (as `lookalike schema` writes).")
    ] = None,
    quasi_identifier: Annotated[
        list[str] | None,
        typer.Option("--quasi-identifier", "-q",
                     help="Column an attacker may know (repeat, or comma-separate)."),
    ] = None,
    require: Annotated[
        list[str] | None,
        typer.Option("--require", help="Gate such as 'fidelity>=0.9' on a summary key (repeat); "
                                       "exit code 3 when one fails."),
    ] = None,
    task: Annotated[
        str, typer.Option("--task", help="auto, classification or regression.")
    ] = "auto",
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of every subsample.")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Threads (1 is best on a shared "
                                                           "machine).")] = 1,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=10, help="Rows kept per table (seeded subsample).")
    ] = 500_000,
    skip: Annotated[
        list[str] | None,
        typer.Option("--skip", help="Metric group to skip: fidelity, qa, discriminator, utility, "
                                    "regression, privacy (repeat)."),
    ] = None,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Write report.html.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar or summary.")] = False,
) -> None:
    """Measure fidelity, utility and privacy of a synthetic table; write metrics.json, report.html.

    Exit codes: 0 done, 1 bad input, 2 bad usage, 3 a --require gate failed.
    """
    from rich.console import Console

    from lookalike.errors import LookalikeError
    from lookalike.evaluate.core import METRIC_GROUPS, EvaluationConfig, evaluate
    from lookalike.evaluate.gates import parse_requirements

    err = Console(stderr=True)
    out = Console()
    try:
        gates = parse_requirements(require or [])
    except LookalikeError as exc:
        raise typer.BadParameter(_one_line(exc), param_hint="'--require'") from None
    if task not in ("auto", "classification", "regression"):
        raise typer.BadParameter(f"must be auto, classification or regression; got {task!r}.",
                                 param_hint="'--task'")
    skipped = [g.strip() for item in (skip or []) for g in item.split(",") if g.strip()]
    unknown = [g for g in skipped if g not in METRIC_GROUPS]
    if unknown:
        raise typer.BadParameter(f"unknown group(s) {unknown}; choose among "
                                 f"{', '.join(METRIC_GROUPS)}.", param_hint="'--skip'")
    qis = [c.strip() for item in (quasi_identifier or []) for c in item.split(",") if c.strip()]
    try:
        from lookalike.schema.spec import Schema

        spec = None
        if schema is not None:
            try:
                spec = Schema.from_json(schema.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                from lookalike.errors import InputFileError

                if isinstance(exc, LookalikeError):
                    raise
                raise InputFileError(f"{schema}: not a readable schema file ({exc}).") from exc
        cfg = EvaluationConfig(max_rows=max_rows, n_jobs=jobs,
                               metrics=tuple(g for g in METRIC_GROUPS if g not in skipped))
        real_df = _read(real, "real")
        syn_df = _read(synthetic, "synthetic")
        hold_df = _read(holdout, "holdout") if holdout is not None else None
        result = _run_with_progress(
            err, quiet,
            lambda progress: evaluate(real_df, syn_df, hold_df, spec, target,
                                      quasi_identifiers=qis or None, task=task, config=cfg,
                                      random_state=seed, progress=progress),
        )
        paths = result.save(output, html=html)
    except LookalikeError as exc:
        raise _fail(err, exc) from None
    if not quiet:
        out.print(_summary_table(result.metrics))
        for name, path in paths.items():
            out.print(f"wrote {name}: {path}", highlight=False)
        for reason in result.verdict.get("privacy_reasons", []):
            out.print(f"privacy: {reason}", highlight=False)
    failures = result.check(gates)
    if failures:
        for line in failures:
            err.print(f"[bold red]Requirement not met:[/] {line}", highlight=False,
                      soft_wrap=True)
        raise typer.Exit(EXIT_GATE_FAILED)
    if gates and not quiet:
        out.print(f"all {len(gates)} requirement(s) met: " + ", ".join(str(g) for g in gates),
                  highlight=False)


def _run_with_progress(console: Console, quiet: bool, fn: Any) -> Any:
    if quiet:
        return fn(None)
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task_id = bar.add_task("evaluating", total=None)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task_id, description=step, completed=done, total=total)

        return fn(progress)


def report_command(
    metrics: Annotated[
        Path, typer.Argument(help="metrics.json written by `lookalike evaluate` (or its folder).")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="HTML file or folder (default: report.html next to "
                                            "metrics.json)."),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Page title.")] = None,
) -> None:
    """Render report.html again from a metrics.json (no data needed)."""
    from rich.console import Console

    from lookalike.errors import LookalikeError
    from lookalike.evaluate.core import load_metrics
    from lookalike.evaluate.report import render_html
    from lookalike.io import write_text_atomic

    err = Console(stderr=True)
    try:
        doc = load_metrics(metrics)
        base = metrics if metrics.is_dir() else metrics.parent
        target = output if output is not None else base / "report.html"
        if target.suffix.lower() not in (".html", ".htm"):
            target = target / "report.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        path = write_text_atomic(target, render_html(doc.metrics, title=title))
    except (LookalikeError, OSError) as exc:
        raise _fail(err, exc) from None
    Console().print(f"wrote report: {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` and ``report`` commands to the main typer application.

    Examples
    --------
    >>> import typer
    >>> app = typer.Typer()
    >>> register(app)
    >>> sorted(c.name for c in app.registered_commands)
    ['evaluate', 'report']
    """
    app.command("evaluate")(evaluate_command)
    app.command("report")(report_command)
