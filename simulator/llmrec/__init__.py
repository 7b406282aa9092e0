"""LLMs as recommenders and LLM-enhanced recommenders: instruction tuning (``tune``),
LLM-written item and user profiles (``enrich``) and distillation into small models."""
