"""CharLM model files in PyTorch, and back.

A CharLM model file is safetensors: PyTorch's tensor names and layouts
(embedding.weight, rnn.weight_ih_l{k}, ..., decoder.weight/bias) and, in
the metadata, the configuration (charlm.config, JSON) and the vocabulary
(charlm.vocabulary, a JSON array of code points). Dependencies: torch and
safetensors only.

    from charlm_torch import load, save
    model, vocab, config = load("checkpoints/run/best.safetensors")
    ...train on GPUs...
    save(model, vocab, config, "checkpoints/run/from-torch.safetensors")
"""
import json

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import save_file

MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN, "rnn-relu": nn.RNN}


class CharModel(nn.Module):
    """Embedding -> nn.LSTM / nn.GRU / nn.RNN -> dropout -> Linear, as CharLM defines it.

    CharLM applies dropout between layers (as nn.LSTM's `dropout` does) and
    once more before the head.
    """

    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        cell = config["cell"]
        vocab, embedding, hidden = config["vocabularySize"], config["embeddingSize"], config["hiddenSize"]
        layers, dropout = config["layers"], config.get("dropout", 0.0)
        self.embedding = nn.Embedding(vocab, embedding)
        kwargs = {"num_layers": layers, "dropout": dropout if layers > 1 else 0.0}
        if cell.startswith("rnn"):
            kwargs["nonlinearity"] = "relu" if cell == "rnn-relu" else "tanh"
        self.rnn = MODULES[cell](embedding, hidden, **kwargs)
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, tokens, state=None):
        """tokens: (T, B) long. Returns logits (T, B, V) and the new state."""
        out, state = self.rnn(self.embedding(tokens), state)
        return self.decoder(self.dropout(out)), state


def default_config(cell, vocabulary_size, hidden=128, layers=2, embedding=None, dropout=0.0):
    return {"cell": cell, "vocabularySize": vocabulary_size, "embeddingSize": embedding or hidden,
            "hiddenSize": hidden, "layers": layers, "dropout": dropout}


def load(path, map_location="cpu"):
    """Returns (model, vocabulary as a list of characters, config dict)."""
    with safe_open(path, framework="pt", device=str(map_location)) as f:
        meta = f.metadata() or {}
        if "charlm.config" not in meta or "charlm.vocabulary" not in meta:
            raise ValueError(f"{path} is not a CharLM model file (no charlm.config / charlm.vocabulary metadata)")
        config = json.loads(meta["charlm.config"])
        vocabulary = [chr(c) for c in json.loads(meta["charlm.vocabulary"])]
        model = CharModel(config)
        state = {name: f.get_tensor(name) for name in model.state_dict()}
    model.load_state_dict(state)
    return model, vocabulary, config


def save(model, vocabulary, config, path):
    """Writes a CharLM model file that `charlm sample` and `charlm eval` accept."""
    codes = sorted(ord(c) for c in vocabulary)
    if codes != [ord(c) for c in vocabulary]:
        raise ValueError("the vocabulary must be sorted by code point, as CharLM builds it")
    config = dict(config)
    config["vocabularySize"] = len(vocabulary)
    meta = {
        "format": "charlm-model/1",
        "charlm.config": json.dumps(config, sort_keys=True, separators=(",", ":")),
        "charlm.vocabulary": json.dumps(codes, separators=(",", ":")),
        "pytorch.module": {"lstm": "LSTM", "gru": "GRU"}.get(config["cell"], "RNN"),
    }
    if config["cell"].startswith("rnn"):
        meta["pytorch.nonlinearity"] = "relu" if config["cell"] == "rnn-relu" else "tanh"
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, path, metadata=meta)
