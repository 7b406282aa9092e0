"""Action modules: one file per action."""

from agents.actions.base import Action, PageObservation, PageOutcome
from agents.actions.browse import BrowseAction, page_schema
from agents.actions.pick import PickAction

__all__ = ["Action", "BrowseAction", "PageObservation", "PageOutcome", "PickAction", "page_schema"]
