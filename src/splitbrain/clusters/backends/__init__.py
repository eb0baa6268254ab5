"""splitbrain.clusters.backends."""
