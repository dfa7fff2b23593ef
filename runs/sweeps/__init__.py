"""Hyperparameter sweeps: the search space, samplers and early-termination
policies (pure logic), and the orchestrator that turns them into child runs."""
