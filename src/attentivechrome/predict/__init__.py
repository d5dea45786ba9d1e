"""Using trained models: bundles (ours and the authors' files) and new samples scored."""
