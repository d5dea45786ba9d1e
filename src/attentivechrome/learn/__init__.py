"""Models and their training: the registry and its published settings, CPU kernels,
training with checkpoints, the linear baseline, metrics and saved outputs."""
