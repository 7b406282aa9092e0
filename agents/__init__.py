"""User and item agents: profiles, traits, actions and policies."""

from agents.actions import Action, BrowseAction, PageObservation, PageOutcome
from agents.item import ItemAgent
from agents.policy import LLMPolicy, Policy
from agents.profile import ItemProfile, Level, Traits, UserProfile
from agents.user import UserAgent

__all__ = [
    "Action",
    "BrowseAction",
    "ItemAgent",
    "ItemProfile",
    "LLMPolicy",
    "Level",
    "PageObservation",
    "PageOutcome",
    "Policy",
    "Traits",
    "UserAgent",
    "UserProfile",
]
