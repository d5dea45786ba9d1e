"""What a run shows: the summary across cell types, the paired comparison of models,
figures and saliency."""
