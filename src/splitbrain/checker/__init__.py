"""splitbrain.checker."""
