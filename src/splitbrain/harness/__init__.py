"""splitbrain.harness."""
