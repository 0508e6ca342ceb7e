"""`surge bench`: figures and ratios printed, never asserted (see README, Benchmarks)."""
