#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: the model and training tests with the default device
# "auto" (so they train on CUDA), then the training benchmark on CUDA, one job and
# several sharing the GPU. Needs python3 with torch (CUDA build), numpy, pandas,
# scikit-learn and pytest; the package is used from src/ without installing it.
#
#   benchmarks/gpu_check.sh [OUT_DIR]      (default benchmarks/out)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/out}
mkdir -p "$out"
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'
print('torch', torch.__version__, 'on', torch.cuda.get_device_name())"
python3 -m pytest -q -p no:cacheprovider tests/test_training.py tests/test_model.py
python3 benchmarks/train_benchmark.py --device cuda --layouts per-mark --deepchrome \
    --full-epoch --jobs 8 --out "$out/train_benchmark_cuda.json"
python3 benchmarks/train_benchmark.py --device cuda --layouts per-mark --rounds 1 \
    --jobs 16 --out "$out/train_benchmark_cuda_jobs16.json"
