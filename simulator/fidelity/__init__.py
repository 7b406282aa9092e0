"""The fidelity suite: how human are the simulated users?

Every subject (an agent under a policy and backend, or a floor recommender) answers the
same held-out cases, so the numbers sit side by side: taste discrimination (Agent4Rec),
rating fidelity, ranking fidelity (AgentCF) and behavioural checks (SUBER).
"""

from simulator.fidelity.suite import FidelityReport, run_fidelity

__all__ = ["FidelityReport", "run_fidelity"]
