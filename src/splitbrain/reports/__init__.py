"""splitbrain.reports."""
