"""The pure-logic core of hyperparameter sweeps: search spaces, samplers, early-termination policies.

No Django here: the orchestrator stores what these modules take and give (JSON-able dicts and
lists) and calls them with everything it knows, so a restarted worker gets the same answers.
"""
