"""The hub monitoring report and the national roll-up (python -m mash_ops.report)."""
