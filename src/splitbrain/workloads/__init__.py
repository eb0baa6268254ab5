"""splitbrain.workloads."""
