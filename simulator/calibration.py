"""Fit the utility policy's parameters to a real dataset's rating and click statistics.

Without calibration the utility policy's ratings and click rate are whatever its default
weights give; a study comparing recommenders on simulated ratings needs those to look
like the data's. ``calibrate`` fits, in order:

1. the rating weights (preference, item quality and the user's own bias), by
   ordered-logit maximum likelihood on the real ratings, each rating in units of its
   user's spread and left out of its item's mean and its user's bias;
2. how much the outside option gains with the size of a page (``page_size_cost``), so
   that the share of pages with a watch matches ``target_ctr`` while a user shown one
   item alone still answers at the taste core's threshold: the data logs what users
   rated, not what they were shown, so the target is a parameter (0.2 by default: one
   page in five ends in a watch);
3. the four rating cutpoints: with the weights, by the same maximum likelihood, so that
   the items real users chose get the ratings they gave; when the weights are kept
   (``fit_rating_weights=False``), so that the ratings of the items simulated users
   *choose* on the calibration slates match the real distribution (one cumulative share
   per cutpoint, exact in expectation). Either way the fit is then checked by sampling the
   policy on fresh slates.

Calibration slates are pages of unseen items drawn in proportion to interaction count
(a popularity-leaning exposure, like a most-popular recommender with noise). The
position bias is not fitted: the data holds no exposures to fit it to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError
from scipy import optimize, sparse
from scipy.special import expit, logsumexp

from agents.traits import traits_from_history
from agents.utility import (
    QUALITY_PRIOR,
    USER_PRIOR,
    UtilityModel,
    UtilityParams,
    choice_probabilities,
)
from memory.embedders import Embedder
from simulator.dataset import Dataset, rating_scale
from simulator.errors import RecworldError
from simulator.ratings import RatingScale, nearest_level, stars_to_levels
from simulator.stats import draw_unseen, total_variation

DEFAULT_TARGET_CTR = 0.2
"""Share of pages that end in a watch, when the data cannot say."""


class CalibrationResult(BaseModel):
    """Fitted parameters and how closely the simulation reproduces the data.

    Attributes:
        dataset: The dataset's name.
        params: The fitted parameters, ready for ``UtilityModel.from_dataset``.
        target_ctr: Share of pages with a watch that the no-click utility was fitted to.
        simulated_ctr: Share of pages with a watch when the fitted policy is sampled.
        real_ratings: Shares of each of ``rating_levels`` in the data (None when implicit).
        simulated_ratings: Shares of each level the fitted policy gives its picks (its
            five stars put onto the levels by ``simulator.dataset.stars_to_levels``).
        tv_distance: Total-variation distance between the two (None when implicit).
        rating_levels: The dataset's rating levels (``simulator.dataset.rating_scale``).
        n_pages: Pages sampled for the check.
        n_ratings: Ratings sampled for the check.
        rating_fit: The ordered-logit fit on the real ratings (weights, log-likelihood).
    """

    model_config = ConfigDict(frozen=True)

    dataset: str
    params: UtilityParams
    target_ctr: float
    simulated_ctr: float
    real_ratings: tuple[float, ...] | None
    simulated_ratings: tuple[float, ...] | None
    tv_distance: float | None
    n_pages: int
    n_ratings: int
    rating_fit: dict[str, float] = {}
    rating_levels: tuple[float, ...] | None = None
    split: dict[str, object] | None = None
    """How the data was split before fitting (the fidelity suite's training part), if so."""

    def save(self, path: str | Path) -> Path:
        """Write the result as JSON; ``load`` reads it back."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.model_dump_json(indent=2))
        return out

    @classmethod
    def load(cls, path: str | Path) -> CalibrationResult:
        """Read a ``save``d result.

        Raises:
            RecworldError: The file is missing, unreadable or not a calibration result; the
                message names the file and never quotes its content.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            raise RecworldError(
                f"utility.calibration: {path}: {problem}; give a file that "
                "`recworld calibrate --out` wrote"
            ) from None
        try:
            return cls.model_validate_json(text)
        except ValidationError:
            raise RecworldError(
                f"utility.calibration: {path} is not a calibration result (JSON from "
                "`recworld calibrate --out`)"
            ) from None


def calibrate(
    dataset: Dataset,
    *,
    params: UtilityParams | None = None,
    seed: int = 0,
    target_ctr: float = DEFAULT_TARGET_CTR,
    slate_size: int = 10,
    pages: int = 3,
    n_users: int = 2000,
    fit_pages: int = 10_000,
    check_pages: int = 20_000,
    fit_rating_weights: bool = True,
    embedder: Embedder | None = None,
) -> CalibrationResult:
    """Fit ``UtilityParams`` to ``dataset`` (see the module docstring for what and how).

    Args:
        dataset: The real dataset.
        params: Starting parameters; unfitted fields are kept. Defaults to
            ``UtilityParams()``.
        seed: Seeds the calibration slates and the check's draws.
        target_ctr: Share of pages that should end in a watch, in (0, 1).
        slate_size: Items per calibration page.
        pages: Calibration pages per sampled user.
        n_users: Users sampled (all when fewer).
        fit_pages: At least this many pages to fit on (users visit again to reach it).
        check_pages: At least this many fresh pages to check the fit on.
        fit_rating_weights: Fit the rating model's weights and cutpoints by maximum
            likelihood; otherwise keep the weights of ``params`` and fit the cutpoints to
            the calibration slates.
        embedder: Passed to ``UtilityModel.from_dataset``.

    Returns:
        The fitted parameters with the real and simulated statistics.

    Raises:
        RecworldError: Data it cannot fit, in one line naming it: no interactions, no user
            with history, ratings on no regular step, or rating levels too many to tell
            apart. One rating for everything calibrates clicks alone, as implicit data.
        ValueError: ``target_ctr`` outside (0, 1).
    """
    if not 0.0 < target_ctr < 1.0:
        raise ValueError(f"target_ctr must lie strictly between 0 and 1, got {target_ctr}")
    params = params or UtilityParams()
    where = dataset.source or dataset.name
    if dataset.interactions.empty:
        raise RecworldError(f"{where}: no interactions to calibrate on")
    scale = rating_scale(dataset)  # None for one rating for everything: clicks alone
    model = UtilityModel.from_dataset(dataset, params, embedder=embedder)
    traits = traits_from_history(dataset).set_index("user_id")
    real = None if scale is None else _level_shares(dataset, scale)
    fit_info: dict[str, float] = {}

    if scale is not None and fit_rating_weights:
        weights, fit_info = _fit_rating_weights(model, traits, scale)
        try:
            params = UtilityParams.model_validate({**params.model_dump(), **weights})
        except ValidationError:
            raise RecworldError(
                f"{where}: the rating model cannot tell apart the {len(scale.levels)} rating "
                f"levels ({scale.describe()}): some have almost no ratings; round the ratings "
                "to a coarser scale"
            ) from None
        model = model.with_params(params)

    fit_rng, check_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    sample = _Sample.draw(model, dataset, traits, fit_rng, n_users, pages, slate_size, fit_pages)
    if sample.n == 0:
        raise RecworldError(f"{where}: no user has a history to calibrate on")

    outside = _fit_outside(sample.utility, target_ctr)
    size_cost = (outside - params.no_click) / np.log(sample.items.shape[1])
    update: dict[str, object] = {"page_size_cost": float(size_cost)}
    if real is not None and not fit_rating_weights and len(real) == len(params.rating_levels):
        probs = choice_probabilities(sample.utility, outside)[:, 1:]
        update["cutpoints"] = _fit_cutpoints(sample.latent, sample.spread, probs, real)
    params = params.model_copy(update=update)
    params = UtilityParams.model_validate(params.model_dump())  # re-run the validators
    model = model.with_params(params)

    check = _Sample.draw(model, dataset, traits, check_rng, n_users, pages, slate_size, check_pages)
    draws = check_rng.random((check.n, 3))
    decisions = model.decide_pages(
        check.users, check.items, check.pages, check.conformity, check.diversity, draws
    )
    ratings = decisions.rating[decisions.choice > 0]
    simulated = real_levels = None
    tv = None
    if scale is not None:
        simulated = _shares(ratings, np.asarray(params.rating_levels))
        if len(params.rating_levels) != len(scale.levels):  # weights kept from another scale
            simulated = stars_to_levels(simulated[None, :], scale.levels)[0]
        real_levels = real
        tv = total_variation(simulated, real_levels)
    return CalibrationResult(
        dataset=dataset.name,
        params=params,
        target_ctr=target_ctr,
        simulated_ctr=float((decisions.choice > 0).mean()),
        real_ratings=None if real_levels is None else tuple(float(x) for x in real_levels),
        simulated_ratings=None if simulated is None else tuple(float(x) for x in simulated),
        tv_distance=tv,
        n_pages=check.n,
        n_ratings=len(ratings),
        rating_fit=fit_info,
        rating_levels=None if scale is None else tuple(float(x) for x in scale.levels),
    )


# -- the data ----------------------------------------------------------------------------


def _level_shares(dataset: Dataset, scale: RatingScale) -> np.ndarray:
    """Shares of the dataset's own rating levels among its non-null ratings."""
    ratings = dataset.interactions["rating"].to_numpy(dtype=float)
    return _shares(ratings[np.isfinite(ratings)], scale.levels)


def _shares(ratings: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Shares of ``levels`` among ``ratings`` (each snapped to its nearest level)."""
    index = np.searchsorted(levels, nearest_level(ratings, levels))
    counts = np.bincount(index, minlength=len(levels)).astype(float)
    return counts / max(1.0, counts.sum())


# -- fitting the rating weights ----------------------------------------------------------


def _fit_rating_weights(
    model: UtilityModel, traits: pd.DataFrame, scale: RatingScale
) -> tuple[dict[str, object], dict[str, float]]:
    """Ordered-logit MLE, on the dataset's own rating levels, of the preference, quality,
    user-bias and neighbour-verdict weights and the cutpoints.

    Each rating is left out of its item's mean and its user's bias, so the weights measure
    how well the *rest* of the data predicts it, as in the simulation, where the items
    shown are ones the user has not rated. The preference logit is taken as if the item
    were not yet in the user's history (``UtilityModel.rated_preferences``); the ratings
    are the model's own (``UtilityModel.rated``), the log's in order.
    """
    empty = np.zeros(0, dtype=np.int64)
    u, i, r = model.rated or (empty, empty, np.zeros(0))
    n_users, n_items = len(model.user_vectors), len(model.item_vectors)
    preference = model.rated_preferences()

    # Item quality and user bias without this rating, shrunk as the model shrinks them.
    mean = float(r.mean())
    item_sum = np.bincount(i, weights=r, minlength=n_items)
    item_n = np.bincount(i, minlength=n_items)
    quality = (item_sum[i] - r + QUALITY_PRIOR * mean) / (item_n[i] - 1 + QUALITY_PRIOR) - mean
    user_centred = np.bincount(u, weights=r - mean, minlength=n_users)
    user_n = np.bincount(u, minlength=n_users)
    bias = (user_centred[u] - (r - mean)) / (user_n[u] - 1 + USER_PRIOR)

    row_ids = np.asarray(list(model.user_index), dtype=object)[u]  # rows in index order
    levels = traits["conformity"].reindex(row_ids).fillna("medium").to_numpy()
    conformity = pd.Series(levels).map(_multipliers(model.params)).to_numpy(dtype=float)
    verdicts = model.verdicts(u, i)  # the item itself is never its own neighbour
    features = np.column_stack([preference, conformity * quality, bias, verdicts])
    level = 1 + np.searchsorted(scale.levels, nearest_level(r, scale.levels))

    result = _ordered_logit(features, level, len(scale.levels), model.user_spread[u])
    weights = {
        "rating_affinity": float(result[0]),
        "rating_quality": float(result[1]),
        "rating_user_bias": float(result[2]),
        "rating_neighbours": float(result[3]),
        "cutpoints": tuple(float(c) for c in result[4:-1]),
        "rating_levels": tuple(float(x) for x in scale.levels),
    }
    info = {
        **{k: v for k, v in weights.items() if isinstance(v, float)},
        "log_likelihood_per_rating": float(-result[-1]),
        "n_ratings": float(len(r)),
    }
    return weights, info


def _multipliers(params: UtilityParams) -> dict[str, float]:
    return {level.value: value for level, value in params.trait_multipliers.items()}


def _ordered_logit(
    features: np.ndarray, stars: np.ndarray, n_levels: int, scale: np.ndarray | None = None
) -> np.ndarray:
    """Maximum-likelihood ordered logit; returns (weights..., cutpoints..., mean NLL).

    ``stars`` are level numbers 1..``n_levels``. ``P(level ≤ k) = σ((c_k − features·w) /
    scale)`` with one known scale per rating (the
    user's relative spread; 1 when omitted). Cutpoints are parametrised as the first plus
    positive (exp) gaps, so they stay ordered; the gradient is analytic, so 100K ratings
    fit in a fraction of a second.
    """
    n, m = features.shape
    inv = 1.0 / (np.ones(n) if scale is None else np.asarray(scale, dtype=np.float64))
    k = n_levels - 1
    counts = np.bincount(stars, minlength=n_levels + 1)[1:]
    cum = np.clip(np.cumsum(counts)[:-1] / n, 1e-4, 1 - 1e-4)
    start_cuts = np.log(cum / (1 - cum))
    x0 = np.concatenate(
        [np.zeros(m), [start_cuts[0]], np.log(np.maximum(np.diff(start_cuts), 1e-3))]
    )
    upper = stars - 1  # index of c_k in the padded cutpoints (−inf, c1..c4, +inf)
    lower = stars - 2

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gaps = np.exp(theta[m + 1 :])
        return theta[:m], theta[m] + np.concatenate([[0.0], np.cumsum(gaps)])

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, cuts = unpack(theta)
        eta = features @ w
        padded = np.concatenate([[-np.inf], cuts, [np.inf]])
        hi = expit((padded[upper + 1] - eta) * inv)
        lo = expit((padded[lower + 1] - eta) * inv)
        p = np.maximum(hi - lo, 1e-12)
        f_hi, f_lo = hi * (1 - hi) * inv, lo * (1 - lo) * inv
        nll = -np.log(p).mean()
        d_eta = (f_hi - f_lo) / p  # d(−log p)/d eta
        grad_w = features.T @ d_eta / n
        grad_cuts = np.zeros(k)
        np.add.at(grad_cuts, upper[stars <= k], -(f_hi / p)[stars <= k])
        np.add.at(grad_cuts, lower[stars >= 2], (f_lo / p)[stars >= 2])
        grad_cuts /= n
        # c_j = c_1 + sum_{i<=j} exp(g_i): chain rule onto (c_1, g_2..g_k).
        grad_first = grad_cuts.sum()
        tail = np.cumsum(grad_cuts[::-1])[::-1][1:]  # sum over j >= i of dL/dc_j
        grad_gaps = tail * np.exp(theta[m + 1 :])
        return nll, np.concatenate([grad_w, [grad_first], grad_gaps])

    bounds = [(0.0, 50.0)] * m + [(None, None)] * k
    fit = optimize.minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds)
    w, cuts = unpack(fit.x)
    return np.concatenate([w, cuts, [fit.fun]])


# -- fitting clicks and cutpoints on simulated slates -----------------------------------


class _Sample:
    """Calibration pages: users, slates of unseen items, and the model's scores on them."""

    def __init__(self, users, items, pages, conformity, diversity, utility, latent, spread) -> None:
        self.users, self.items, self.pages = users, items, pages
        self.conformity, self.diversity = conformity, diversity
        self.utility, self.latent, self.spread = utility, latent, spread
        self.n = len(users)

    @classmethod
    def draw(
        cls,
        model: UtilityModel,
        dataset: Dataset,
        traits: pd.DataFrame,
        rng: np.random.Generator,
        n_users: int,
        pages: int,
        slate_size: int,
        min_pages: int = 0,
    ) -> _Sample:
        ids = [u for u in dataset.users["user_id"].astype(str) if u in model.user_index]
        if len(ids) > n_users:
            ids = [ids[j] for j in np.sort(rng.choice(len(ids), size=n_users, replace=False))]
        if ids and min_pages > len(ids) * pages:  # more visits by the same users
            ids = ids * -(-min_pages // (len(ids) * pages))
        n_items = len(dataset.items)
        slots = min(pages * slate_size, n_items)
        slate_size = min(slate_size, slots) or 1
        pages = slots // slate_size
        rows = np.array([model.user_index[u] for u in ids], dtype=np.int64)
        slates = _popular_unseen(model, dataset, ids, rng, pages * slate_size)
        users = np.repeat(rows, pages)
        items = slates.reshape(len(ids) * pages, slate_size)
        page_no = np.tile(np.arange(1, pages + 1, dtype=np.float64), len(ids))
        mult = _multipliers(model.params)
        levels = traits[["conformity", "diversity"]].reindex(ids).fillna("medium")
        conformity = np.repeat(levels["conformity"].map(mult).to_numpy(dtype=float), pages)
        diversity = np.repeat(levels["diversity"].map(mult).to_numpy(dtype=float), pages)
        preference = model.preference(users, items)
        utility = model.click_utilities(preference, items, conformity, diversity)
        utility = utility + model.position_bias(slate_size)
        latent = model.rating_latent(users, preference, items, conformity)
        spread = model.user_spread[users]
        return cls(users, items, page_no, conformity, diversity, utility, latent, spread)


def _popular_unseen(
    model: UtilityModel, dataset: Dataset, ids: Sequence[str], rng: np.random.Generator, k: int
) -> np.ndarray:
    """k unseen catalogue items per user (model rows), drawn ∝ interaction count + 1, most
    likely first (``simulator.stats.draw_unseen``)."""
    items = dataset.items["item_id"].astype(str)
    catalogue = np.array([model.item_index[i] for i in items], dtype=np.int64)
    inter = dataset.interactions
    col = pd.Index(items).get_indexer(inter["item_id"].astype(str))
    unique = pd.Index(list(ids)).unique()
    row = unique.get_indexer(inter["user_id"].astype(str))
    ok = (col >= 0) & (row >= 0)
    counts = np.bincount(col[col >= 0], minlength=len(items))
    seen = sparse.csr_matrix(
        (np.ones(int(ok.sum()), dtype=bool), (row[ok], col[ok])), shape=(len(unique), len(items))
    )
    drawn = draw_unseen(counts + 1.0, seen, unique.get_indexer(list(ids)), k, rng)
    return catalogue[drawn]


def _fit_outside(utility: np.ndarray, target_ctr: float) -> float:
    """The outside utility at which the mean chance of a watch per page is ``target_ctr``."""
    lse = logsumexp(utility, axis=1)

    def gap(no_click: float) -> float:
        return float(expit(lse - no_click).mean()) - target_ctr

    return float(optimize.brentq(gap, lse.min() - 60.0, lse.max() + 60.0, xtol=1e-8))


def _fit_cutpoints(
    latent: np.ndarray, spread: np.ndarray, choice: np.ndarray, real: np.ndarray
) -> tuple[float, ...]:
    """Cutpoints that make the expected ratings of chosen items match ``real`` exactly.

    ``latent`` is in units of each user's ``spread`` (as ``rating_latent`` gives it), so
    the cumulative share of ratings ≤ k is a click-weighted mean of σ(c_k / spread −
    latent), which only c_k moves, and monotonically: one root per cutpoint.
    """
    weights = choice / choice.sum()
    inv = 1.0 / spread[:, None]
    targets = np.clip(np.cumsum(real)[:-1], 1e-6, 1 - 1e-6)
    low = float((latent * spread[:, None]).min()) - 60.0 * float(spread.max())
    high = float((latent * spread[:, None]).max()) + 60.0 * float(spread.max())
    cuts: list[float] = []
    for target in targets:

        def gap(c: float, target: float = target) -> float:
            return float((weights * expit(c * inv - latent)).sum()) - target

        c = float(optimize.brentq(gap, low, high, xtol=1e-10))
        if cuts and c <= cuts[-1]:  # an empty rating level: keep the cutpoints ordered
            c = cuts[-1] + 1e-6
        cuts.append(c)
    return tuple(cuts)
