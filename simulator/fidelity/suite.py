"""Run every fidelity task for every subject on the same cases, and tabulate the results."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from simulator.dataset import Dataset
from simulator.fidelity import measures
from simulator.fidelity.behaviour import Personas, build_personas, score_pairs
from simulator.fidelity.case_files import read_cases
from simulator.fidelity.cases import CaseConfig, Cases, build_cases
from simulator.fidelity.subjects import Subject
from simulator.fidelity.transfer import TransferConfig, simulate_logs, transfer_table

MIN_GENRE_RATINGS = 20
"""Genres with fewer withheld ratings get no per-genre distance (too noisy)."""
TABLES = ("discrimination", "ranking", "rating", "rating_by_genre", "behaviour")
WRITTEN = (*TABLES, "behaviour_cases", "transfer")


@dataclass
class FidelityReport:
    """The suite's tables, one row per subject (and case), and what produced them."""

    dataset: str
    config: dict[str, Any]
    subjects: list[dict[str, Any]]
    discrimination: pd.DataFrame
    ranking: pd.DataFrame
    rating: pd.DataFrame
    rating_by_genre: pd.DataFrame
    behaviour: pd.DataFrame
    behaviour_cases: pd.DataFrame = field(default_factory=pd.DataFrame)
    transfer: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Recommenders trained on real and simulated logs (``simulator.fidelity.transfer``)."""
    notes: list[str] = field(default_factory=list)
    """What was skipped and why (implicit data has no rating fidelity)."""

    def to_json(self) -> dict[str, Any]:
        tables = {name: _records(getattr(self, name)) for name in WRITTEN}
        return {
            "dataset": self.dataset,
            "config": self.config,
            "notes": self.notes,
            "subjects": self.subjects,
            **tables,
        }

    def write(self, out_dir: str | Path) -> list[Path]:
        """``fidelity.json`` plus one CSV per table under ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "fidelity.json"]
        written[0].write_text(json.dumps(self.to_json(), indent=2, default=_plain))
        for name in WRITTEN:
            path = out / f"{name}.csv"
            getattr(self, name).to_csv(path, index=False)
            written.append(path)
        return written


def run_fidelity(
    dataset: Dataset,
    subjects: Sequence[Subject],
    config: CaseConfig | None = None,
    *,
    cases: Cases | str | Path | None = None,
    behaviour: bool = True,
    transfer: bool | TransferConfig = False,
    on_progress: Callable[[str], None] | None = None,
    map_subjects: MapSubjects | None = None,
) -> FidelityReport:
    """Withhold cases (or take given ones), fit each subject, and score all four tasks.

    Every subject sees the same cases, personas, tie-breaks and rating draws, so the
    differences between rows are the subjects' alone. Subjects are fitted on the training
    data for the three held-out tasks, and refitted with the personas added only for the
    behavioural checks, so the made-up histories never touch the held-out scores.

    Args:
        dataset: The whole dataset; with ``cases``, the training data the subjects fit on.
        subjects: Agents and floors.
        config: How many cases to draw, and the seed of every draw.
        cases: Cases to answer instead of drawing them: ``Cases`` or a folder of JSONL
            files (``simulator.fidelity.case_files``).
        behaviour: Run the behavioural checks.
        transfer: Also train recommenders on logs simulated by the utility policy and
            score them on the held-out items (the ``transfer`` table); a
            ``TransferConfig`` sets how (True: the defaults, seeded like the cases).
        on_progress: Called with a line per stage.
        map_subjects: Runs ``score_subject`` over the subjects elsewhere (each call's
            arguments a tuple; results in order), as ``recworld fidelity --ray`` does with
            Ray tasks; None scores them here, one after another. The results are the same.
    """
    config = config or CaseConfig()
    say = on_progress or (lambda _message: None)
    if cases is None:
        say(f"withholding cases from {dataset.name}")
        cases = build_cases(dataset, config)
    elif not isinstance(cases, Cases):
        say(f"reading cases from {cases}")
        cases = read_cases(cases, dataset, config)
    notes = _notes(cases, behaviour)
    personas = build_personas(cases.train, config.seed) if behaviour else None
    levels = cases.scale.levels if cases.scale is not None else None
    streams = np.random.SeedSequence([config.seed, 1]).spawn(3)
    tiebreak, rank_tiebreak, rating_draws = (
        np.random.default_rng(stream).random(n)
        for stream, n in zip(
            streams,
            (len(cases.discrimination), len(cases.ranking), len(cases.rating)),
            strict=True,
        )
    )

    tables: dict[str, list[pd.DataFrame]] = {name: [] for name in (*TABLES, "behaviour_cases")}
    meta = []
    draws = (tiebreak, rank_tiebreak, rating_draws)
    if map_subjects is None:
        scored = [score_subject(s, cases, personas, levels, draws, say) for s in subjects]
    else:
        say(f"{len(subjects)} subjects, each a task elsewhere")
        scored = map_subjects(
            score_subject, [(s, cases, personas, levels, draws, None) for s in subjects]
        )
    for parts, subject_meta in scored:
        for name, frame in parts.items():
            tables[name].append(frame)
        meta.append(subject_meta)
    setup = transfer if isinstance(transfer, TransferConfig) else TransferConfig(seed=config.seed)
    transfer_frame = pd.DataFrame()
    if transfer is not False and len(cases.ranking):
        say("transfer: simulating the training data's users")
        logs = simulate_logs(cases, setup)
        say("transfer: training recommenders on the real and simulated logs")
        transfer_frame = transfer_table(cases, setup, logs=logs, tiebreak=rank_tiebreak)
    elif transfer is not False:
        notes.append("no ranking cases: the transfer measure is skipped")
    settings = {**asdict(config), "behaviour": behaviour, "cases": cases.source}
    settings["transfer"] = (
        {**setup.describe(), "simulated": logs.describe()} if len(transfer_frame) else None
    )
    settings["multiples"] = sorted({m for _, m in cases.cases})
    settings["rating_levels"] = None if levels is None else [float(x) for x in levels]
    return FidelityReport(
        dataset=dataset.name,
        config=settings,
        subjects=meta,
        notes=notes,
        transfer=transfer_frame,
        **{name: _concat(frames) for name, frames in tables.items()},
    )


MapSubjects = Callable[[Callable[..., Any], Sequence[tuple[Any, ...]]], list[Any]]
"""``map(fn, calls) -> [fn(*call) for call in calls]``, run wherever the caller likes."""


def score_subject(
    subject: Subject,
    cases: Cases,
    personas: Personas | None,
    levels: np.ndarray | None,
    draws: tuple[np.ndarray, np.ndarray, np.ndarray],
    say: Callable[[str], None] | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Fit one subject and score it on every task: its rows of each table, and its meta.

    Module-level and free of shared state, so a Ray task can run it; the draws (tie-breaks
    and rating draws) are the suite's, so every subject meets the same ones.
    """
    say = say or (lambda _message: None)
    tiebreak, rank_tiebreak, rating_draws = draws
    parts: dict[str, pd.DataFrame] = {}
    say(f"{subject.name}: fitting")
    started = time.perf_counter()
    stats_before = _llm_totals(subject)
    subject.fit(cases.train)
    if len(cases.discrimination):
        say(f"{subject.name}: taste discrimination")
        parts["discrimination"] = _discrimination(subject, cases, tiebreak)
    if len(cases.ranking):
        say(f"{subject.name}: ranking")
        parts["ranking"] = _ranking(subject, cases, rank_tiebreak)
    if levels is not None and len(cases.rating):
        say(f"{subject.name}: rating")
        parts["rating"], parts["rating_by_genre"] = _rating(subject, cases, levels, rating_draws)
    if personas and personas.pairs:
        say(f"{subject.name}: behavioural checks")
        subject.fit(personas.add_to(cases.train))
        parts["behaviour"], parts["behaviour_cases"] = _behaviour(subject, personas, levels)
    return parts, _subject_meta(subject, stats_before, time.perf_counter() - started)


def _notes(cases: Cases, behaviour: bool) -> list[str]:
    """One line per task the cases leave out, and for held-out interactions the given data
    held (left out of the training data)."""
    notes = []
    if cases.dropped:
        notes.append(
            f"{cases.dropped} held-out interaction(s) were in the given data; the subjects "
            "fit without them"
        )
    if cases.scale is None:
        notes.append(
            "implicit data (no ratings): positives are held-out interactions; rating "
            "fidelity is skipped"
        )
        if behaviour:
            notes.append(
                "behavioural checks: only mainstream-niche (genre-love, sequel and "
                "generous-harsh need ratings)"
            )
    elif not len(cases.rating):
        notes.append("no rating cases: rating fidelity is skipped")
    if not len(cases.ranking):
        notes.append("no ranking cases: ranking fidelity is skipped")
    if not len(cases.discrimination):
        notes.append("no discrimination cases: taste discrimination is skipped")
    return notes


def _discrimination(subject: Subject, cases: Cases, tiebreak: np.ndarray) -> pd.DataFrame:
    d = cases.discrimination
    unique = d[["user_id", "item_id"]].drop_duplicates()
    answers = pd.Series(subject.judge(unique), index=pd.MultiIndex.from_frame(unique))
    scores = answers.reindex(pd.MultiIndex.from_frame(d[["user_id", "item_id"]])).to_numpy()
    failed = np.isnan(scores)
    scores = np.where(failed, 0.5, scores)
    rows = []
    for kind, m in cases.cases:
        keep = cases.case_mask(kind, m)
        labels = d["label"].to_numpy()[keep]
        s, groups, ties = scores[keep], d["list"].to_numpy()[keep], tiebreak[keep]
        base_rate = measures.top_share_decisions(groups, s, ties, 1 / (m + 1))
        own = (s >= 0.5) & ~failed[keep] if subject.has_threshold else base_rate
        drawn = (
            measures.drawn_classification(labels, s)
            if subject.has_threshold
            else {"yes_share_drawn": float("nan"), "f1_drawn": float("nan")}
        )
        rows.append(
            {
                "subject": subject.name,
                "negatives": kind,
                "m": m,
                **measures.classification(labels, own),
                "f1_base_rate": measures.classification(labels, base_rate)["f1"],
                "auc": measures.auc(labels, s),
                "yes_share": float(own.mean()),
                **drawn,
                "n": int(keep.sum()),
                "failed": int(failed[keep].sum()),
            }
        )
    return pd.DataFrame(rows)


def _ranking(subject: Subject, cases: Cases, tiebreak: np.ndarray) -> pd.DataFrame:
    r = cases.ranking.assign(tiebreak=tiebreak).sort_values(["kind", "list", "position"])
    groups = [
        ((kind, rows["user_id"].iloc[0]), rows)
        for (kind, _), rows in r.groupby(["kind", "list"], sort=False)
    ]
    answers = _rank_by_length(
        subject, [(user, rows["item_id"].tolist()) for (_, user), rows in groups]
    )
    ranks: dict[str, list[int]] = {}
    failed: dict[str, int] = {}
    for ((kind, _), rows), scores in zip(groups, answers, strict=True):
        scores = np.asarray(scores, float)
        if np.isnan(scores).all():
            failed[kind] = failed.get(kind, 0) + 1
            scores = np.zeros(len(rows))
        target = int(np.flatnonzero(rows["label"].to_numpy())[0])
        rank = measures.rank_of_target(scores, rows["tiebreak"].to_numpy(), target)
        ranks.setdefault(kind, []).append(rank)
    out = []
    for kind in pd.unique(cases.ranking["kind"]):
        ranked = np.asarray(ranks[kind])
        if not len(ranked):
            continue
        out.append(
            {
                "subject": subject.name,
                "negatives": kind,
                **{f"ndcg@{k}": float(measures.ndcg_single(ranked, k).mean()) for k in (1, 5, 10)},
                "mean_rank": float(ranked.mean()),
                "n": len(ranked),
                "failed": failed.get(kind, 0),
            }
        )
    return pd.DataFrame(out)


def _rank_by_length(subject: Subject, lists: list[tuple[str, list[str]]]) -> list[np.ndarray]:
    """The subject's scores of every list, asked in batches of lists of one length (given
    cases may mix lengths; a subject scores a batch as one matrix)."""
    answers: list[np.ndarray] = [np.empty(0)] * len(lists)
    lengths = np.array([len(items) for _, items in lists])
    for length in np.unique(lengths):
        at = np.flatnonzero(lengths == length)
        for k, scores in zip(at, subject.rank([lists[k] for k in at]), strict=True):
            answers[k] = scores
    return answers


def _rating(
    subject: Subject, cases: Cases, levels: np.ndarray, draws: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ratings drawn from each subject's distribution over ``levels``, binned on them."""
    probs = subject.rate(cases.rating[["user_id", "item_id"]], levels)
    ok = ~np.isnan(probs).any(axis=1)
    cdf = np.cumsum(np.where(ok[:, None], probs, 1.0 / len(levels)), axis=1)
    simulated = levels[(draws[:, None] >= cdf[:, :-1]).sum(axis=1)]
    # The median of each predicted distribution: the point prediction that minimises MAE.
    median = levels[(np.where(ok[:, None], cdf, 1.0)[:, :-1] < 0.5).sum(axis=1)]
    frame = cases.rating.assign(simulated=simulated.astype(float), median=median)[ok]
    real, sim = frame["rating"].to_numpy(), frame["simulated"].to_numpy()

    def shares(ratings: np.ndarray) -> np.ndarray:
        return measures.rating_shares(ratings, levels)

    overall = {
        "subject": subject.name,
        "tv": measures.total_variation(shares(real), shares(sim)),
        "kl": measures.kl_divergence(real, sim, levels),
        "mae": float(np.abs(real - frame["median"]).mean()) if len(real) else float("nan"),
        "mean_real": float(real.mean()) if len(real) else float("nan"),
        "mean_simulated": float(sim.mean()) if len(sim) else float("nan"),
        "n": len(frame),
        "failed": int((~ok).sum()),
    }
    items = cases.train.items
    genres = items.set_index(items["item_id"].astype(str))["genres"]
    exploded = (
        frame.assign(genre=frame["item_id"].map(genres)).explode("genre").dropna(subset=["genre"])
    )
    per_genre = []
    for genre, rows in exploded.groupby("genre"):
        if len(rows) < MIN_GENRE_RATINGS:
            continue
        r, s = rows["rating"].to_numpy(), rows["simulated"].to_numpy()
        per_genre.append(
            {
                "subject": subject.name,
                "genre": genre,
                "tv": measures.total_variation(shares(r), shares(s)),
                "kl": measures.kl_divergence(r, s, levels),
                "mean_real": float(r.mean()),
                "mean_simulated": float(s.mean()),
                "n": len(rows),
            }
        )
    by_genre = pd.DataFrame(per_genre)
    overall["genre_tv_mean"] = float(by_genre["tv"].mean()) if len(by_genre) else float("nan")
    return pd.DataFrame([overall]), by_genre


def _behaviour(
    subject: Subject, personas: Personas, levels: np.ndarray | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = score_pairs(subject, personas, levels).assign(subject=subject.name)
    summary = (
        rows.groupby("check", sort=False)
        .agg(pairs=("passed", "size"), passed=("passed", "sum"), mean_gap=("gap", "mean"))
        .reset_index()
    )
    summary["pass_rate"] = summary["passed"] / summary["pairs"]
    # One-sided sign test against a subject that passes each pair by chance (p = 0.5):
    # with five pairs, even 4 passes happen by chance 19% of the time.
    summary["p_value"] = [
        binomtest(int(k), int(n), 0.5, alternative="greater").pvalue
        for k, n in zip(summary["passed"], summary["pairs"], strict=True)
    ]
    summary.insert(0, "subject", subject.name)
    return summary, rows[["subject", *[c for c in rows.columns if c != "subject"]]]


def _llm_totals(subject: Subject) -> dict[str, float]:
    llm = getattr(subject, "llm", None)
    return dict(llm.stats.totals()) if llm is not None else {}


def _subject_meta(subject: Subject, before: dict[str, float], seconds: float) -> dict[str, Any]:
    llm = getattr(subject, "llm", None)
    info: dict[str, Any] = {
        "name": subject.name,
        "kind": "floor" if not subject.has_threshold else "agent",
        "seconds": round(seconds, 2),
    }
    if llm is not None:
        after = llm.stats.totals()
        info["backend"], info["model"] = (
            llm.label.split(":", 1)
            if ":" in llm.label
            else (
                llm.label,
                "",
            )
        )
        info.update({k: after[k] - before.get(k, 0) for k in after})
        info["failures"] = getattr(subject, "failures", 0)
        if hasattr(subject, "routed"):
            info["routed_to_llm"] = subject.routed
            info["questions"] = subject.asked
    return info


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records")) if len(frame) else []


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
