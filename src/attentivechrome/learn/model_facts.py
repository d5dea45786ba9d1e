"""What the report states about each model: its name for people and the published mean
test AUROC it is held against.

Keys are the names of the model registry (`model.MODELS`), plus "transferchrome", a later
published model that is not trained here and appears only as a reference line. The facts
live apart from model.py so that tables and figures can name models without importing
torch.
"""

from __future__ import annotations

#: A model's name in figures and tables; a model not listed is shown by its registry name.
MODEL_LABELS = {
    "attentivechrome": "AttentiveChrome",
    "lstm": "LSTM",
    "lstm-attention": "LSTM-Attn",
    "hierarchical-lstm": "Two-level LSTM (ablation)",
    "deepchrome": "DeepChrome",
    "logistic": "Logistic regression",
}

#: Mean test AUROC over the 56 REMC cell types as published (AttentiveChrome paper, and
#: TransferChrome for the later state of the art): model -> (label of its line, value).
PUBLISHED_MEAN_AUROC = {
    "attentivechrome": ("AttentiveChrome (published)", 0.8115),
    "lstm": ("LSTM, marks as inputs (published)", 0.8052),
    "deepchrome": ("DeepChrome (published)", 0.8008),
    "transferchrome": ("TransferChrome (later work)", 0.8479),
}


#: Labels that differ with the task: `logistic` is fitted as ridge regression in regression.
TASK_MODEL_LABELS = {"regression": {"logistic": "Ridge regression"}}


def model_label(model: str, task: str = "classification") -> str:
    return TASK_MODEL_LABELS.get(task, {}).get(model) or MODEL_LABELS.get(model, model)
