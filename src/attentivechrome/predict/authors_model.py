"""The authors' published AttentiveChrome models: `state_dict`s of their PyTorch port.

Their 55 per-cell-type files (`E0xx_attchrome_avgAUC_model.pt`, also served by Kipoi)
hold the same architecture as `model.AttentiveChrome` under other parameter names: one
BiLSTM per mark with its attention context (`rnn_hms.{m}`), the BiLSTM over marks with
its context (`hm_level_rnn_1`) and the final linear layer (`fdiff1_1`). Their input is
raw counts, bins x marks, the marks in their CSV's (alphabetical) column order, 100 bins
of 100 bp over TSS +/- 5 kb.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from attentivechrome.data.samples import CORE_MARKS

#: The marks of the authors' files, in their input order (their CSV's columns).
AUTHORS_MARKS = tuple(sorted(CORE_MARKS))
AUTHORS_WINDOW = {"flank": 5000, "bin_size": 100}
_FIRST_KEY = "rnn_hms.0.rnn.weight_ih_l0"
_FILE_CELL = re.compile(r"^(.+?)_attchrome")


def is_authors_state_dict(payload) -> bool:
    return isinstance(payload, Mapping) and _FIRST_KEY in payload


def authors_cell(file_name: str) -> str | None:
    """The cell type a file of the authors' is named after (`E003_attchrome_...pt`)."""
    found = _FILE_CELL.match(file_name)
    return found.group(1) if found else None


def authors_hyperparameters(state: Mapping[str, torch.Tensor]) -> dict:
    """Our AttentiveChrome's settings that fit the shapes of the authors' parameters."""
    n_marks = len({key.split(".")[1] for key in state if key.startswith("rnn_hms.")})
    return {
        "n_marks": n_marks,
        "n_bins": AUTHORS_WINDOW["flank"] * 2 // AUTHORS_WINDOW["bin_size"],
        "bin_hidden": state["rnn_hms.0.rnn.weight_hh_l0"].shape[1],
        "mark_hidden": state["hm_level_rnn_1.rnn.weight_hh_l0"].shape[1],
    }


def from_authors_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' parameters under our names (model.AttentiveChrome's state_dict).

    Raises KeyError naming a missing key, or ValueError for one that is not mapped, so
    that a file of another model is never half loaded.
    """
    n_marks = authors_hyperparameters(state)["n_marks"]
    ours: dict[str, torch.Tensor] = {}
    used = set()

    def take(key: str) -> torch.Tensor:
        used.add(key)
        return state[key]

    lstm_keys = [
        f"{kind}_{layer}_l0{direction}"
        for kind in ("weight", "bias")
        for layer in ("ih", "hh")
        for direction in ("", "_reverse")
    ]
    for m in range(n_marks):
        for key in lstm_keys:
            ours[f"bin_encoders.{m}.{key}"] = take(f"rnn_hms.{m}.rnn.{key}")
    for key in lstm_keys:
        ours[f"mark_encoder.{key}"] = take(f"hm_level_rnn_1.rnn.{key}")
    ours["bin_attention.context"] = torch.stack(
        [take(f"rnn_hms.{m}.bin_attention.bin_context_vector")[:, 0] for m in range(n_marks)]
    )
    ours["mark_attention.context"] = take("hm_level_rnn_1.bin_attention.bin_context_vector").t()
    ours["classifier.weight"] = take("fdiff1_1.weight")
    ours["classifier.bias"] = take("fdiff1_1.bias")
    unknown = sorted(set(state) - used)
    if unknown:
        raise ValueError(f"parameters {', '.join(unknown[:3])} are not part of AttentiveChrome")
    return ours
