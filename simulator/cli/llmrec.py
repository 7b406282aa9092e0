"""``recworld tune``: LLMs as recommenders, instruction-tuned on a dataset's histories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from simulator.cli.app import (
    Columns,
    DataDir,
    app,
    console,
    fail,
    llm_spec,
    load_data,
    prepare_out,
)
from simulator.errors import RecworldError


@app.command()
def tune(
    data: Annotated[str, typer.Argument(help="Dataset folder (e.g. ../shared/data/ml-100k).")],
    out: Annotated[Path, typer.Option(help="The tuned folder to write (adapter, tune.json).")],
    kind: Annotated[str | None, typer.Option(help="Dataset kind; guessed when omitted.")] = None,
    data_dir: DataDir = None,
    columns: Columns = None,
    base: Annotated[
        str, typer.Option(help="'smollm2' (shipped) or a Hugging Face model folder.")
    ] = "smollm2",
    representation: Annotated[
        str, typer.Option(help="Items as 'text' (titles, genres) or 'id' (a token per item).")
    ] = "text",
    examples: Annotated[int, typer.Option(help="Instruction examples to build.")] = 240,
    rank_share: Annotated[
        float, typer.Option(help="Share of the examples that are ranking lists.")
    ] = 0.2,
    epochs: Annotated[int, typer.Option(help="Passes over the examples.")] = 2,
    batch_size: Annotated[int, typer.Option(help="Examples per optimiser step.")] = 8,
    learning_rate: Annotated[float, typer.Option(help="AdamW step size.")] = 1e-3,
    lora_rank: Annotated[int, typer.Option(help="LoRA rank.")] = 8,
    top_layers: Annotated[
        int, typer.Option(help="Adapt only the last this-many layers (0: all of them).")
    ] = 10,
    hint: Annotated[
        bool,
        typer.Option(
            help="Put the taste core's estimate in every question (then ask the tuned model "
            "with it too: `recworld fidelity --hint`)."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seeds the examples and the adapter.")] = 0,
    fidelity_split: Annotated[
        bool,
        typer.Option(
            help="Build the examples only from the training part of `recworld fidelity`'s "
            "cases (its default --users, --positives, --rated, --min-history, seed 0), so "
            "the suite can then score the tuned model on users' choices it never saw."
        ),
    ] = False,
    users: Annotated[int, typer.Option(help="With --fidelity-split: held-out users.")] = 100,
) -> None:
    """Instruction-tune an LLM with LoRA on yes/no and ranking questions from DATA."""
    from simulator.fidelity.cases import CaseConfig, build_cases
    from simulator.llmrec.instructions import build_examples
    from simulator.llmrec.tune import TuneConfig
    from simulator.llmrec.tune import tune as run_tune

    try:
        config = TuneConfig(
            base=base,
            representation=representation,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            rank=lora_rank,
            top_layers=top_layers or None,
            seed=seed,
        )
        if examples < 1:
            raise RecworldError(f"--examples {examples}: give at least 1")
        prepare_out(out)
        dataset = load_data(data, kind, data_dir, columns)
        if fidelity_split:
            dataset = build_cases(dataset, CaseConfig(users=users)).train
        built = build_examples(
            dataset, examples=examples, rank_share=rank_share, hint=hint, seed=seed + 1
        )
        items = dataset.items
        titles = dict(zip(items["item_id"].astype(str), items["title"].astype(str), strict=True))
        with console.status(f"tuning {base} on {len(built)} examples"):
            result = run_tune(built, out, config, titles=titles, dataset=dataset.name, hint=hint)
    except RecworldError as exc:
        fail(exc)
    table = Table(title=f"{base} tuned on {dataset.name} ({representation} items)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("examples", str(result.examples))
    table.add_row("loss per epoch", " → ".join(f"{x:.3f}" for x in result.losses))
    table.add_row(
        "accuracy on 32 of them (before → after)",
        f"{result.accuracy_before:.3f} → {result.accuracy_after:.3f}",
    )
    table.add_row("seconds", f"{result.seconds:.0f}")
    table.add_row("written to", str(out))
    console.print(table)
    console.print(
        f"use it with: --llm tuned:{out} (user agents, fidelity) or the recommender "
        f"tuned-llm with params {{adapter: {out}}}"
    )


def _runtime(llm: str, seed: int):
    """An LLM runtime from ``--llm BACKEND[:MODEL]``, built as a run builds its own."""
    from simulator.compose.components import build_llm
    from simulator.llm.runtime import LLMRuntime

    return LLMRuntime(build_llm(llm_spec(llm), seed))


@app.command()
def enrich(
    data: Annotated[str, typer.Argument(help="Dataset folder (e.g. ../shared/data/ml-100k).")],
    out: Annotated[Path, typer.Option(help="The enriched dataset folder to write (csv kind).")],
    llm: Annotated[str, typer.Option(help="The LLM that writes profiles, BACKEND[:MODEL].")],
    kind: Annotated[str | None, typer.Option(help="Dataset kind; guessed when omitted.")] = None,
    data_dir: DataDir = None,
    columns: Columns = None,
    users: Annotated[bool, typer.Option(help="Also write user profiles.")] = True,
    batch: Annotated[int, typer.Option(help="Profiles per LLM batch.")] = 64,
    seed: Annotated[int, typer.Option(help="Seeds the LLM.")] = 0,
) -> None:
    """Write LLM-generated item (and user) profiles into a new dataset folder; rerun to
    resume: profiles already in OUT/profiles.jsonl are not asked again."""
    from rich.progress import Progress

    from scenarios.datasets.generic_csv import write_csv
    from simulator.llmrec.enrich import CACHE
    from simulator.llmrec.enrich import enrich as run_enrich

    try:
        if batch < 1:
            raise RecworldError(f"--batch {batch}: give at least 1")
        prepare_out(out)
        dataset = load_data(data, kind, data_dir, columns)
        runtime = _runtime(llm, seed)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("profiles", total=None)
            result = run_enrich(
                dataset,
                runtime,
                out / CACHE,
                users=users,
                batch=batch,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        write_csv(result.dataset, out)
    except RecworldError as exc:
        fail(exc)
    console.print(
        f"{result.asked} profiles written, {result.cached} from {out / CACHE}, "
        f"{result.failed} failed (asked again on a rerun); dataset in {out} "
        f"(kind csv: recworld data info {out})"
    )


@app.command()
def distill(
    data: Annotated[str, typer.Argument(help="Dataset folder (e.g. ../shared/data/ml-100k).")],
    student: Annotated[
        str, typer.Option(help="The model to train: als, bpr, item-knn, sasrec.")
    ] = "als",
    llm: Annotated[
        str | None, typer.Option(help="Label sampled pairs with this LLM, BACKEND[:MODEL].")
    ] = None,
    run: Annotated[
        Path | None, typer.Option(help="Learn from this finished run's watches instead.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Dataset kind; guessed when omitted.")] = None,
    data_dir: DataDir = None,
    columns: Columns = None,
    users: Annotated[
        int | None, typer.Option(help="With --llm: label this many users (all when omitted).")
    ] = None,
    unseen: Annotated[int, typer.Option(help="With --llm: unseen items asked per user.")] = 10,
    own: Annotated[
        int | None,
        typer.Option(help="With --llm: at most this many of a user's own items asked."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the labelled log and the scores here.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seeds the split, the samples and the models.")] = 0,
) -> None:
    """Train a small model on LLM-labelled interactions; score it beside the real log's."""
    from simulator.llmrec.distill import distill as run_distill

    try:
        if out is not None:
            prepare_out(out)
        dataset = load_data(data, kind, data_dir, columns)
        runtime = _runtime(llm, seed) if llm else None
        with console.status("labelling and training"):
            result = run_distill(
                dataset,
                student=student,
                llm=runtime,
                run_dir=run,
                users=users,
                unseen=unseen,
                own=own,
                seed=seed,
            )
    except RecworldError as exc:
        fail(exc)
    summary = result.offline.summary
    table = Table(title=f"{student} on the real log and on the LLM-labelled log ({dataset.name})")
    table.add_column("recommender")
    metrics = ("ndcg", "recall", "hit_rate", "coverage")
    for name in metrics:
        table.add_column(f"{name}@10", justify="right")
    for label, rows in summary.groupby("recommender", sort=False):
        means = rows.set_index("metric")["mean"]
        table.add_row(label, *(f"{means.get(m, float('nan')):.4f}" for m in metrics))
    console.print(table)
    console.print(
        f"learned from {len(result.log)} labelled interactions"
        + (
            f" (yes to {len(result.log)} of {len(result.labels)} questions)"
            if len(result.labels)
            else ""
        )
    )
    if out is not None:
        result.log.to_csv(out / "labelled_log.csv", index=False)
        if len(result.labels):
            result.labels.to_csv(out / "questions.csv", index=False)
        summary.to_csv(out / "offline.csv", index=False)
        console.print(f"written to {out}")
