"""Action modules: one file per action."""

from agents.actions.base import Action, PageObservation, PageOutcome
from agents.actions.browse import BrowseAction, page_schema

__all__ = ["Action", "BrowseAction", "PageObservation", "PageOutcome", "page_schema"]
