"""splitbrain.clusters."""
