"""``recworld fidelity``: how human the simulated users are."""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from simulator.cli.app import (
    Columns,
    DataDir,
    app,
    console,
    llm_spec,
    load_data,
    prepare_out,
    say,
)
from simulator.cli.app import fail as _fail
from simulator.errors import RecworldError

POLICIES = ("utility", "llm", "hybrid")


@app.command()
def fidelity(
    data: Annotated[str, typer.Option(help="Dataset folder (e.g. ../shared/data/ml-100k).")],
    kind: Annotated[str | None, typer.Option(help="Dataset kind; guessed when omitted.")] = None,
    data_dir: DataDir = None,
    columns: Columns = None,
    policy: Annotated[
        str, typer.Option(help="The agents' policy: utility, llm or hybrid.")
    ] = "utility",
    llm: Annotated[
        str | None,
        typer.Option(
            help="LLM backend for --policy llm or hybrid, BACKEND[:MODEL] (required there; "
            "`scripted` is the test stand-in)."
        ),
    ] = None,
    calibration: Annotated[
        Path | None, typer.Option(help="Utility parameters from `recworld calibrate`.")
    ] = None,
    floors: Annotated[
        str, typer.Option(help="Comma-separated floors to report beside the agents, or none.")
    ] = "random,most-popular,item-knn",
    users: Annotated[int, typer.Option(help="Held-out users.")] = 100,
    positives: Annotated[int, typer.Option(help="Liked items withheld per user.")] = 5,
    rated: Annotated[
        int, typer.Option(help="Further ratings withheld per user, for rating fidelity.")
    ] = 10,
    multiples: Annotated[str, typer.Option(help="Negatives per positive.")] = "1,2,3,9",
    min_history: Annotated[
        int, typer.Option(help="Fewest interactions a held-out user keeps in training.")
    ] = 10,
    cases: Annotated[
        Path | None,
        typer.Option(
            help="Answer the JSONL cases in this folder instead of drawing them; --data is "
            "then the training data."
        ),
    ] = None,
    write_cases: Annotated[
        Path | None, typer.Option(help="Also write the cases answered, as JSONL, to this folder.")
    ] = None,
    behaviour: Annotated[bool, typer.Option(help="Run the behavioural checks.")] = True,
    transfer: Annotated[
        bool,
        typer.Option(
            help="Also train recommenders on logs simulated by the utility policy and score "
            "them on the held-out items, against the real log (the transfer table)."
        ),
    ] = False,
    transfer_recommenders: Annotated[
        str, typer.Option(help="With --transfer: comma-separated recommenders to train.")
    ] = "item-knn,als,sasrec",
    transfer_users: Annotated[
        int | None,
        typer.Option(
            help="With --transfer: simulate the held-out users and a sample of the others, "
            "this many in all (faster); all users when omitted."
        ),
    ] = None,
    cache: Annotated[Path | None, typer.Option(help="SQLite LLM response cache.")] = None,
    hint: Annotated[
        bool,
        typer.Option(
            help="Show the LLM the taste core's estimate in each question (llm, hybrid); "
            "a model tuned with `recworld tune --hint` expects it."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of every draw.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Folder for fidelity.json and CSVs.")] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace results or cases already in --out or --write-cases.")
    ] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Score each subject (the agents and every floor) as a task on this Ray "
            "cluster (auto, HOST:PORT or ray://HOST:PORT); needs recworld[ray].",
        ),
    ] = None,
) -> None:
    """Score the agents on held-out users against random, popularity and item-kNN floors.

    Taste discrimination (Agent4Rec), rating fidelity, ranking fidelity (AgentCF) and
    SUBER-style behavioural checks, on the same cases for every subject. Implicit data
    gets discrimination, ranking and the checks that need no ratings.
    """
    from simulator.fidelity import run_fidelity
    from simulator.fidelity.case_files import read_cases
    from simulator.fidelity.case_files import write_cases as save_cases
    from simulator.fidelity.cases import CaseConfig, build_cases
    from simulator.fidelity.floors import FLOORS, RecommenderFloor
    from simulator.fidelity.transfer import TransferConfig

    created: list[Path] = []  # output folders this call made, removed again on failure
    try:
        if policy not in POLICIES:
            raise RecworldError(
                f"--policy: unknown policy {policy!r}; choose utility, llm or hybrid"
            )
        floor_names = [] if floors.strip() == "none" else [f.strip() for f in floors.split(",")]
        unknown = [f for f in floor_names if f not in FLOORS]
        if unknown:
            raise RecworldError(
                f"--floors: unknown floor {unknown[0]!r}; choose from {', '.join(FLOORS)} or none"
            )
        config = CaseConfig(
            users=users,
            positives=positives,
            rated=rated,
            multiples=_multiples(multiples),
            min_history=min_history,
            seed=seed,
        )
        if policy != "utility" and llm is None:
            raise RecworldError(
                f"--policy {policy} needs --llm BACKEND[:MODEL], e.g. --llm smollm2 "
                "(--llm scripted is the seeded stand-in that tests use)"
            )
        _warn_unused(policy, llm, calibration, cache)
        setup = TransferConfig(
            recommenders=tuple(_recommenders(transfer_recommenders)),
            params=_transfer_params(calibration),
            users=transfer_users,
            seed=seed,
        )
        dataset = load_data(data, kind, data_dir, columns)
        folder = out or Path("runs") / f"fidelity-{dataset.name}-{datetime.now():%Y%m%d-%H%M%S}"
        if not overwrite:
            _refuse_earlier(folder, write_cases)
        created = [made for p in (folder, write_cases) if p is not None for made in _absent(p)]
        prepare_out(folder)
        if write_cases is not None:
            prepare_out(write_cases, option="--write-cases")
        given = read_cases(cases, dataset, config) if cases else build_cases(dataset, config)
        _check_calibration(calibration, policy, config, given.source)
        agent = _agent(policy, llm, calibration, cache, seed, hint)
        subjects = [agent, *(RecommenderFloor(name, seed=seed) for name in floor_names)]
        with console.status("fidelity") as status:
            report = run_fidelity(
                dataset,
                subjects,
                config,
                cases=given,
                behaviour=behaviour,
                transfer=setup if transfer else False,
                on_progress=status.update,
                map_subjects=_on_ray(ray) if ray else None,
            )
        close = getattr(getattr(agent, "llm", None), "close", None)
        if close:
            close()
    except RecworldError as exc:
        for path in sorted(set(created), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):  # not empty (or gone): leave it
                path.rmdir()
        _fail(exc)
    report.write(folder)
    if write_cases is not None:
        save_cases(given, write_cases)
        console.print(f"cases written to {write_cases}/ (discrimination, ranking, rating .jsonl)")
    for note in report.notes:
        say("note:", note)
    _print(report)
    console.print(f"written to {folder}/fidelity.json (and one CSV per table)")


def _refuse_earlier(folder: Path, write_cases: Path | None) -> None:
    """Refuse to write over earlier results or cases, as ``run`` and ``compare`` do."""
    from simulator.fidelity.case_files import FILES

    if (folder / "fidelity.json").exists():
        raise RecworldError(
            f"--out {folder}: already holds fidelity results (fidelity.json); pass "
            "--overwrite to replace them, or choose another folder"
        )
    if write_cases is not None and any((write_cases / name).exists() for name in FILES):
        raise RecworldError(
            f"--write-cases {write_cases}: already holds case files; pass --overwrite to "
            "replace them, or choose another folder"
        )


def _absent(path: Path) -> list[Path]:
    """``path`` and each parent of it that does not exist yet: what making it creates."""
    path = path.absolute()
    return [p for p in (path, *path.parents) if not p.exists()]


def _check_calibration(calibration: Path | None, policy: str, config, source: str) -> None:
    """Say when utility parameters were fitted on data that holds the drawn held-out cases.

    Given cases come with their training data, which calibration may use whole.
    """
    from simulator.calibration import CalibrationResult

    if calibration is None or policy == "llm" or not calibration.is_file() or source != "drawn":
        return
    if CalibrationResult.load(calibration).split != config.split():
        say(
            "note:",
            f"{calibration} was not fitted on these cases' training part "
            "(recworld calibrate --fidelity-split with the same --users, --positives, "
            "--rated, --min-history and --seed); its held-out scores may be flattered",
        )


def _warn_unused(
    policy: str, llm: str | None, calibration: Path | None, cache: Path | None
) -> None:
    """Options of the other policy are ignored; say so rather than silently."""
    unused = []
    if policy == "llm" and calibration is not None:
        unused.append("--calibration")
    if policy == "utility":
        unused += ["--llm"] * (llm is not None) + ["--cache"] * (cache is not None)
    if unused:
        say("note:", f"{', '.join(unused)} ignored with --policy {policy}")


def _recommenders(text: str) -> list[str]:
    from simulator.recommenders.registry import check_recommender_names

    try:
        return check_recommender_names(text.split(","))
    except ValueError as exc:
        raise RecworldError(f"--transfer-recommenders: {exc}") from None


def _transfer_params(calibration: Path | None):
    """The utility parameters the synthetic logs are simulated with: the calibration's."""
    from simulator.calibration import CalibrationResult

    if calibration is None or not calibration.is_file():
        return None
    return CalibrationResult.load(calibration).params


def _multiples(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise RecworldError(
            f"--multiples: expected comma-separated integers like 1,2,3,9, got {text!r}"
        ) from None
    return values


def _agent(
    policy: str,
    llm: str | None,
    calibration: Path | None,
    cache: Path | None,
    seed: int,
    hint: bool,
):
    from simulator.compose import build_fidelity_subject
    from simulator.config import LLMSpec

    if calibration is not None and not calibration.is_file():
        raise RecworldError(f"--calibration: {calibration} does not exist; run calibrate")
    spec = LLMSpec()  # the utility policy asks no LLM
    if policy != "utility":
        spec = llm_spec(llm or "scripted", cache)
    return build_fidelity_subject(policy, spec, calibration=calibration, seed=seed, hint=hint)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "–" if value != value else f"{value:.3f}"  # NaN: the subject has no answer
    return str(value)


HEADERS = {
    "yes_share": "yes share",
    "yes_share_drawn": "yes share drawn",
    "f1_drawn": "f1 drawn",
    "f1_base_rate": "f1 base rate",
    "genre_tv_mean": "genre tv",
    "mean_real": "mean real",
    "mean_simulated": "mean sim",
    "mean_rank": "mean rank",
    "mean_gap": "mean gap",
    "p_value": "p",
}
"""Terminal headers with spaces, so that a narrow terminal wraps them instead of cutting
two alike (``yes_sh…``) to the same stub; the CSVs keep the column names."""


def _print(report) -> None:
    from simulator.fidelity.cases import RANKING_CANDIDATES

    drawn = report.config.get("cases", "drawn") == "drawn"
    lists = (
        f"1 held-out liked item + {RANKING_CANDIDATES - 1} unseen"
        if drawn
        else "each list's target among its candidates"
    )
    tables = [
        (
            "taste discrimination (own answers: yes-share, F1; drawn as in a run: yes-share, "
            "F1; F1 told the base rate; AUC)",
            report.discrimination,
            [
                "subject",
                "negatives",
                "m",
                "yes_share",
                "f1",
                "yes_share_drawn",
                "f1_drawn",
                "f1_base_rate",
                "auc",
            ],
        ),
        (
            f"ranking fidelity ({lists})",
            report.ranking,
            ["subject", "negatives", "ndcg@1", "ndcg@5", "ndcg@10", "mean_rank"],
        ),
        (
            "rating fidelity (withheld ratings)",
            report.rating,
            ["subject", "tv", "kl", "genre_tv_mean", "mae", "mean_real", "mean_simulated"],
        ),
        (
            "behavioural checks (pairs passed; p: sign test against chance)",
            report.behaviour,
            ["subject", "check", "passed", "pairs", "mean_gap", "p_value"],
        ),
        (
            "transfer (recommenders trained on each log, NDCG@10 of the held-out liked item; "
            "ratio to the real log)",
            report.transfer,
            ["recommender", "log", "negatives", "ndcg@10", "ratio", "watches", "seconds"],
        ),
    ]
    for title, frame, columns in tables:
        if frame.empty:
            continue
        table = Table(title=title)
        for column in columns:
            text = column in ("subject", "negatives", "check", "recommender", "log")
            table.add_column(HEADERS.get(column, column), justify="left" if text else "right")
        for row in frame[columns].itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        console.print(table)


def _on_ray(address: str):
    """The suite's subjects as Ray tasks at ``address``."""
    from simulator.compose.on_ray import map_tasks

    return lambda fn, calls: map_tasks(address, fn, calls)
