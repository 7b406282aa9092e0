"""The dashboard page: Mesa's ``SolaraViz`` over one ``DashboardModel``.

Solara runs ``Page`` for every browser tab; ``serve`` puts the model here first. The
controls (step, play, reset) and the step counter are Mesa's ``SolaraViz``; the views are
solara components of ours, laid out here (Mesa 3.3's tab layout needs ipyvuetify 1,
solara installs 3). They read only the ``DashboardModel`` interface, so a replay and a
live run look the same. Text from the run (memories, reasons, titles) is shown in tables
and plain text, never as Markdown or HTML: a model or a dataset wrote it, not us.
"""

from __future__ import annotations

import json

import pandas as pd
import solara
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from simulator.dashboard import series
from simulator.dashboard.models import DashboardModel, Logs


class Served:
    """The model every tab shows (one per server)."""

    model: DashboardModel | None = None


_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _colours(model: DashboardModel, logs: Logs) -> dict[str, str]:
    """One colour per arm, the same in every plot."""
    arms = set(model.profiles()["arm"].astype(str)) | set(logs.interactions["recommender"])
    return {arm: _COLOURS[i % len(_COLOURS)] for i, arm in enumerate(sorted(arms))}


def _figure(model: DashboardModel, draw) -> solara.Element:
    """A small figure drawn by ``draw(ax, logs, colours)``, redrawn when the step changes
    (Mesa bumps ``update_counter`` after each step; reading it subscribes the plot)."""
    update_counter.get()
    logs = model.logs()
    fig = Figure(figsize=(5.2, 3.0), dpi=80, layout="constrained")
    ax = fig.subplots()
    if model.steps == 0:
        ax.text(0.5, 0.5, "no step yet: press Step", ha="center", va="center")
    draw(ax, logs, _colours(model, logs))
    if ax.get_legend() is None and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return solara.FigureMatplotlib(fig, format="png", dependencies=[id(model), model.steps])


def _per_arm(ax, frame: pd.DataFrame, column: str, colours: dict[str, str]) -> None:
    for arm, rows in frame.groupby("arm", sort=True):
        ax.plot(rows["step"], rows[column], marker="o", label=str(arm), color=colours[str(arm)])


def _steps_axis(ax, model: DashboardModel, title: str, ylabel: str) -> None:
    ax.set(title=title, xlabel="step", ylabel=ylabel)
    ax.set_xlim(0, max(model.steps, 1) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


@solara.component
def ClickThrough(model: DashboardModel) -> solara.Element:
    def draw(ax, logs, colours):
        _per_arm(ax, series.engagement(logs.interactions), "ctr", colours)
        _steps_axis(ax, model, "click-through (watches / exposures)", "ctr")

    return _figure(model, draw)


@solara.component
def Ratings(model: DashboardModel) -> solara.Element:
    def draw(ax, logs, colours):
        _per_arm(ax, series.engagement(logs.interactions), "mean_rating", colours)
        _steps_axis(ax, model, "mean rating of the step's watches", "rating")

    return _figure(model, draw)


@solara.component
def Retention(model: DashboardModel) -> solara.Element:
    def draw(ax, logs, colours):
        left = series.departures(logs.users, logs.interactions, model.churn_after)
        _per_arm(ax, series.retention(model.profiles(), left, model.steps), "retention", colours)
        _steps_axis(ax, model, "retention (share of users still in the world)", "share")
        ax.set_ylim(-0.02, 1.05)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", loc="lower left")

    return _figure(model, draw)


@solara.component
def GenreEntropy(model: DashboardModel) -> solara.Element:
    def draw(ax, logs, colours):
        _per_arm(ax, series.genre_entropy(logs.users), "exposure_entropy", colours)
        _steps_axis(ax, model, "genre entropy of a visitor's exposures", "bits")

    return _figure(model, draw)


@solara.component
def LongTail(model: DashboardModel) -> solara.Element:
    def draw(ax, logs, colours):
        curves = series.long_tail(logs.interactions, model.catalogue())
        ginis = series.ginis(curves)
        for arm, counts in curves.items():
            label = f"{arm} (Gini {ginis[arm]:.2f})"
            ax.plot(range(1, len(counts) + 1), counts, label=label, color=colours[arm])
        ax.set(title="exposure long tail so far", xlabel="item rank", ylabel="exposures")

    return _figure(model, draw)


def _table(rows: pd.DataFrame, empty: str, per_page: int = 10) -> None:
    if len(rows):
        solara.DataFrame(rows.astype(str).reset_index(drop=True), items_per_page=per_page)
    else:
        solara.Text(empty)


def _titles(model: DashboardModel, item_ids: pd.Series) -> pd.Series:
    titles = {}
    for item_id in item_ids.unique():
        profile = model.item(item_id)
        titles[item_id] = profile.title if profile is not None else ""
    return item_ids.map(titles)


def _memories(model: DashboardModel, owner: str, limit: int = 12) -> None:
    records = model.memories(owner)
    if records is None:
        solara.Text("No memory store to read: the run kept its memories in memory or on a server.")
        return
    latest = sorted(records, key=lambda r: (r.created, r.id), reverse=True)[:limit]
    frame = pd.DataFrame(
        {
            "step": [r.created for r in latest],
            "kind": [str(r.kind) for r in latest],
            "importance": [f"{r.importance:.2f}" for r in latest],
            "forgotten": ["yes" if r.forgotten else "" for r in latest],
            "text": [r.text for r in latest],
        }
    )
    _table(frame, "No memories yet.")


def _listed(values: object) -> list[str]:
    """A list column's cell (a numpy array once read from Parquet), as strings."""
    return [] if values is None else [str(v) for v in values]


def _json_fields(text: str) -> str:
    try:
        fields = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return text
    return "; ".join(f"{k}: {v}" for k, v in fields.items())


@solara.component
def AgentView(model: DashboardModel) -> solara.Element:
    """One user: profile and traits, latest memories, decisions with their reasons."""
    update_counter.get()
    logs = model.logs()
    profiles = model.profiles()
    chosen, choose = solara.use_state("")
    users = profiles["user_id"].tolist()
    if not users:
        return solara.Text("No users in this run.")
    busiest = logs.interactions["user_id"].value_counts()
    user = chosen if chosen in users else (busiest.index[0] if len(busiest) else users[0])
    row = profiles.set_index("user_id").loc[user]
    left = series.departures(logs.users, logs.interactions, model.churn_after)
    gone = left.loc[left["user_id"] == user, "step"]
    mine = logs.interactions[logs.interactions["user_id"] == user]
    fields = {
        "user": user,
        "name": row.get("name", ""),
        "arm": row.get("arm", ""),
        "activity": f"{row.get('activity_level', '')} ({float(row.get('activity', 0)):.2f} "
        "chance of a visit per step)",
        "conformity": row.get("conformity", ""),
        "diversity": row.get("diversity", ""),
        "traits measured from data": row.get("traits_known", ""),
        "favourite genres": ", ".join(_listed(row.get("favourite_genres"))),
        "demographics": _json_fields(row.get("demographics", "")),
        "persona": _json_fields(row.get("persona", "")),
        "taste summary": row.get("taste", ""),
        "so far": f"{logs.users['user_id'].eq(user).sum()} visits, "
        f"{int((mine['action'] == 'watch').sum())} watched"
        + (f"; left at step {int(gone.iloc[0])}" if len(gone) else ""),
    }
    with solara.Column() as view:
        solara.Select("user", values=users, value=user, on_value=choose)
        with solara.Card("Profile and traits"):
            _table(pd.DataFrame({"field": fields.keys(), "value": fields.values()}), "", 20)
        with solara.Card("Latest memories"):
            _memories(model, user)
        with solara.Card("Decisions, with the user's reasons"):
            decisions = mine.sort_values(["step", "page", "position"], ascending=False)
            decisions = decisions.assign(title=_titles(model, decisions["item_id"]))
            columns = ["step", "page", "position", "item_id", "title", "recommender", "action"]
            _table(decisions[[*columns, "rating", "reason", "feeling"]], "No visits yet.")
        with solara.Card("Other actions (interviews, searches, chats, exits)"):
            events = logs.events[logs.events["user_id"] == user].iloc[::-1]
            _table(events[["step", "kind", "item_id", "value", "text"]], "None yet.")
    return view


@solara.component
def ItemView(model: DashboardModel) -> solara.Element:
    """One item: its entry as agents see it, exposures per arm and its AgentCF notes."""
    update_counter.get()
    logs = model.logs()
    chosen, choose = solara.use_state("")
    shown = logs.interactions["item_id"].value_counts()
    items = [*shown.index, *(i for i in model.catalogue() if i not in shown.index)]
    if not items:
        return solara.Text("No items in this run.")
    item = chosen if chosen in items else items[0]
    profile = model.item(item)
    fields = {"item": item}
    if profile is not None:
        fields |= {
            "title": profile.title,
            "genres": ", ".join(profile.genres),
            "description": profile.description,
            "AgentCF note (who it suits)": profile.note or "(none yet)",
        }
    rows = logs.interactions[logs.interactions["item_id"] == item]
    per_arm = series.engagement(rows.assign(step=0)).drop(columns="step")
    with solara.Column() as view:
        solara.Select("item (most shown first)", values=items, value=item, on_value=choose)
        with solara.Card("Item"):
            _table(pd.DataFrame({"field": fields.keys(), "value": fields.values()}), "", 20)
        with solara.Card("Exposures so far, per arm"):
            _table(per_arm, "Not shown yet.")
        with solara.Card("AgentCF memories (who chose it, corrections)"):
            _memories(model, f"item:{item}")
        with solara.Card("Corrections (AgentCF's backward step)"):
            fixes = logs.events[(logs.events["kind"] == "correction")]
            fixes = fixes[fixes["item_id"] == item].iloc[::-1]
            _table(fixes[["step", "user_id", "text"]], "None yet.")
    return view


PLOTS = (ClickThrough, Ratings, Retention, GenreEntropy, LongTail)


VIEWS = ("Plots per arm", "Agents", "Items")


@solara.component
def Views(model: DashboardModel) -> None:
    """The plots, the agent view or the item view, picked by a row of buttons (solara's
    tabs misplace their content under ipyvuetify 3); redrawn every step."""
    update_counter.get()
    view, show = solara.use_state(VIEWS[0])
    solara.ToggleButtonsSingle(value=view, values=list(VIEWS), on_value=show)
    if view == VIEWS[0]:
        with solara.GridFixed(columns=2):
            for plot in PLOTS:
                plot(model)
    elif view == VIEWS[1]:
        AgentView(model)
    else:
        ItemView(model)


@solara.component
def Page() -> None:
    if Served.model is None:
        solara.Error("No run to show: start the dashboard with `recworld dashboard RUN`.")
        return
    # Mesa's Reset puts a new model in this reactive; the views read it from there.
    model = solara.use_reactive(Served.model)
    title = f"{model.value.name} ({model.value.mode})"
    SolaraViz(model, components=[], model_params=model.value.params(), name=title)
    Views(model.value)
