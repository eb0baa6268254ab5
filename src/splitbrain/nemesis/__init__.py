"""splitbrain.nemesis."""
