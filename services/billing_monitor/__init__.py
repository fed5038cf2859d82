"""billing-monitor: turns upstream billing facts into each client's open billing problems.

Consumes `billing.events`, keeps per client which problems are open, and publishes
`billing.problem_opened` / `billing.problem_resolved` on `billing.problems` when that changes.
"""
