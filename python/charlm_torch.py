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



class VariantLSTM(nn.Module):
    """The LSTM variants PyTorch lacks, named and laid out as nn.LSTM.

    kind "lstm-peephole": gates i, f, g, o; i and f also see c_{t-1} and o
    sees c_t through `weight_peephole_l{k}` (3, H), rows i, f, o.
    kind "lstm-cifg": gates f, g, o; the input gate is 1 - f.
    Input and output are (T, B, *), the state a tuple (h, c) of (L, B, H).
    Dropout between layers, as nn.LSTM. A plain time loop: for parity and
    for loading, not for speed.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0, kind="lstm-peephole"):
        super().__init__()
        self.kind, self.hidden_size, self.num_layers, self.dropout = kind, hidden_size, num_layers, dropout
        gates = 4 if kind == "lstm-peephole" else 3
        bound = hidden_size ** -0.5
        for k in range(num_layers):
            inputs = input_size if k == 0 else hidden_size
            shapes = {"weight_ih": (gates * hidden_size, inputs), "weight_hh": (gates * hidden_size, hidden_size),
                      "bias_ih": (gates * hidden_size,), "bias_hh": (gates * hidden_size,)}
            if kind == "lstm-peephole":
                shapes["weight_peephole"] = (3, hidden_size)
            for name, shape in shapes.items():
                setattr(self, f"{name}_l{k}", nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def forward(self, x, state=None):
        T, B, _ = x.shape
        H = self.hidden_size
        if state is None:
            zeros = x.new_zeros(self.num_layers, B, H)
            state = (zeros, zeros)
        h_all, c_all = state
        finals_h, finals_c = [], []
        for k in range(self.num_layers):
            w_ih, w_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
            bias = getattr(self, f"bias_ih_l{k}") + getattr(self, f"bias_hh_l{k}")
            h, c = h_all[k], c_all[k]
            outputs = []
            for t in range(T):
                pre = x[t] @ w_ih.t() + h @ w_hh.t() + bias
                if self.kind == "lstm-peephole":
                    p = getattr(self, f"weight_peephole_l{k}")
                    pi, pf, pg, po = pre.split(H, dim=1)
                    i = torch.sigmoid(pi + p[0] * c)
                    f = torch.sigmoid(pf + p[1] * c)
                    c = f * c + i * torch.tanh(pg)
                    o = torch.sigmoid(po + p[2] * c)
                else:
                    pf, pg, po = pre.split(H, dim=1)
                    f = torch.sigmoid(pf)
                    c = f * c + (1 - f) * torch.tanh(pg)
                    o = torch.sigmoid(po)
                h = o * torch.tanh(c)
                outputs.append(h)
            x = torch.stack(outputs)
            finals_h.append(h)
            finals_c.append(c)
            if k < self.num_layers - 1 and self.dropout > 0:
                x = nn.functional.dropout(x, self.dropout, self.training)
        return x, (torch.stack(finals_h), torch.stack(finals_c))


def _variant(kind):
    return lambda *args, **kwargs: VariantLSTM(*args, kind=kind, **kwargs)


MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN, "rnn-relu": nn.RNN,
           "lstm-peephole": _variant("lstm-peephole"), "lstm-cifg": _variant("lstm-cifg")}
PYTORCH_MODULE = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN", "rnn-relu": "RNN",
                  "lstm-peephole": "LSTMPeephole", "lstm-cifg": "LSTMCIFG"}


class CharModel(nn.Module):
    """Embedding -> nn.LSTM / nn.GRU / nn.RNN / VariantLSTM -> dropout -> Linear, as CharLM defines it.

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
    # A byte-level model (charlm train --bytes) must stay one when saved back.
    model.charlm_encoding = meta.get("charlm.encoding")
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
        "pytorch.module": PYTORCH_MODULE[config["cell"]],
    }
    if getattr(model, "charlm_encoding", None):
        meta["charlm.encoding"] = model.charlm_encoding
    if config["cell"].startswith("rnn"):
        meta["pytorch.nonlinearity"] = "relu" if config["cell"] == "rnn-relu" else "tanh"
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, path, metadata=meta)


class SequenceModel(nn.Module):
    """A CharLM tagger or classifier: Embedding -> nn.LSTM / nn.GRU / nn.RNN (bidirectional or not) -> Linear.

    config is the file's charlm.sequence-config: output "every-step" (a tag per
    character) or "final-state" (one label per sequence, from the top layer's
    final states, forward then backward, as h_n holds them).
    Sequences of different lengths are packed, so padding reaches nothing.
    """

    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        cell = config["cell"]
        if cell not in ("lstm", "gru", "rnn", "rnn-relu"):
            raise ValueError(f"sequence models with {cell} cells have no PyTorch module here yet")
        kwargs = {"num_layers": config["layers"], "bidirectional": config["bidirectional"]}
        if cell.startswith("rnn"):
            kwargs["nonlinearity"] = "relu" if cell == "rnn-relu" else "tanh"
        self.embedding = nn.Embedding(config["vocabularySize"], config["embeddingSize"])
        self.rnn = MODULES[cell](config["embeddingSize"], config["hiddenSize"], **kwargs)
        directions = 2 if config["bidirectional"] else 1
        self.head = nn.Linear(directions * config["hiddenSize"], config["labelCount"])

    def forward(self, tokens, lengths):
        """tokens: (T, B) long, lengths: (B). Returns logits (T, B, C) (zero past a length) or (B, C)."""
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(tokens), lengths, enforce_sorted=False)
        out, state = self.rnn(packed)
        if self.config["output"] == "every-step":
            out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=tokens.shape[0])
            return self.head(out)
        h_n = state[0] if isinstance(state, tuple) else state
        final = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.config["bidirectional"] else h_n[-1]
        return self.head(final)


def save_sequence(model, vocabulary, labels, task, path):
    """Writes a tagger or classifier file that `charlm tag` / `charlm classify` accept."""
    codes = sorted(ord(c) for c in vocabulary)
    config = dict(model.config)
    config["vocabularySize"], config["labelCount"] = len(codes), len(labels)
    meta = {
        "format": "charlm-model/1",
        "charlm.sequence-config": json.dumps(config, sort_keys=True, separators=(",", ":")),
        "charlm.vocabulary": json.dumps(codes, separators=(",", ":")),
        "charlm.labels": json.dumps(labels),
        "charlm.task": task,
        "pytorch.module": PYTORCH_MODULE[config["cell"]],
        "pytorch.bidirectional": "true" if config["bidirectional"] else "false",
    }
    if config["cell"].startswith("rnn"):
        meta["pytorch.nonlinearity"] = "relu" if config["cell"] == "rnn-relu" else "tanh"
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, path, metadata=meta)


def load_sequence(path, map_location="cpu"):
    """Returns (model, vocabulary, labels, task) of a CharLM tagger or classifier file."""
    with safe_open(path, framework="pt", device=str(map_location)) as f:
        meta = f.metadata() or {}
        if "charlm.sequence-config" not in meta:
            raise ValueError(f"{path} is not a CharLM tagger or classifier (no charlm.sequence-config metadata)")
        model = SequenceModel(json.loads(meta["charlm.sequence-config"]))
        state = {name: f.get_tensor(name) for name in model.state_dict()}
    model.load_state_dict(state)
    vocabulary = [chr(c) for c in json.loads(meta["charlm.vocabulary"])]
    return model, vocabulary, json.loads(meta["charlm.labels"]), meta["charlm.task"]


class Attention(nn.Module):
    """CharLM's attention scores: dot s.h, general s.Wh (Luong 2015), additive v.tanh(W_s s + W_h h) (Bahdanau 2015)."""

    def __init__(self, kind, query, memory):
        super().__init__()
        self.kind = kind
        if kind == "general":
            self.weight = nn.Parameter(torch.empty(query, memory).uniform_(-memory ** -0.5, memory ** -0.5))
        elif kind == "additive":
            self.query = nn.Linear(query, query, bias=False)
            self.key = nn.Linear(memory, query, bias=False)
            self.v = nn.Parameter(torch.empty(query).uniform_(-query ** -0.5, query ** -0.5))

    def forward(self, s, memory, mask):
        """s (B, Q), memory (S, B, M), mask (B, S) True where real. Returns context (B, M) and weights (B, S)."""
        if self.kind == "dot":
            scores = torch.einsum("bq,sbq->bs", s, memory)
        elif self.kind == "general":
            scores = torch.einsum("bq,sbq->bs", s, memory @ self.weight.t())
        else:
            scores = torch.tanh(self.query(s)[None] + self.key(memory)) @ self.v  # (S, B)
            scores = scores.t()
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
        return torch.einsum("bs,sbm->bm", weights, memory), weights


class Seq2SeqModel(nn.Module):
    """A CharLM encoder-decoder (charlm seq2seq), config as its charlm.seq2seq-config:

    encoder: Embedding -> nn.LSTM/GRU/RNN (bidirectional or not) over the packed source -> memory, final state f
    decoder h_0 of every layer = f, or tanh(bridge(f)) when the widths differ; c_0 = 0
    step t: x = [Embedding(y_{t-1}); h~_{t-1}] (input feeding, with attention) -> decoder rnn -> h_t
            -> attention over the memory -> c_t -> h~_t = tanh(combine([c_t; h_t])) (none: h~_t = h_t)
            -> head(h~_t). Target id 0 is the boundary: the first input and every target's end.
    """

    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        cell, H, E = config["cell"], config["hiddenSize"], config["embeddingSize"]
        if cell not in ("lstm", "gru", "rnn", "rnn-relu"):
            raise ValueError(f"seq2seq models with {cell} cells have no PyTorch module here yet")
        kwargs = {"nonlinearity": "relu" if cell == "rnn-relu" else "tanh"} if cell.startswith("rnn") else {}
        D = 2 if config["bidirectional"] else 1
        M = D * H
        feed = config["attention"] != "none"
        self.encoder = nn.Module()
        self.encoder.embedding = nn.Embedding(config["sourceVocabularySize"], E)
        self.encoder.rnn = MODULES[cell](E, H, num_layers=config["encoderLayers"], bidirectional=config["bidirectional"], **kwargs)
        self.decoder = nn.Module()
        self.decoder.embedding = nn.Embedding(config["targetVocabularySize"], E)
        self.decoder.rnn = MODULES[cell](E + (H if feed else 0), H, num_layers=config["decoderLayers"], **kwargs)
        self.bridge = nn.Linear(M, H) if M != H else None
        if feed:
            self.attention = Attention(config["attention"], H, M)
            self.combine = nn.Linear(M + H, H, bias=False)
        self.head = nn.Linear(H, config["targetVocabularySize"])

    def forward(self, sources, source_lengths, inputs):
        """sources (S, B) long, source_lengths (B), inputs (T, B) long (the boundary, then the target).
        Returns logits (T, B, V) and the attention weights (T, B, S) (None without attention)."""
        cfg = self.config
        S, B = sources.shape
        packed = nn.utils.rnn.pack_padded_sequence(self.encoder.embedding(sources), source_lengths, enforce_sorted=False)
        out, state = self.encoder.rnn(packed)
        memory, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=S)
        h_n = state[0] if isinstance(state, tuple) else state
        final = torch.cat([h_n[-2], h_n[-1]], dim=1) if cfg["bidirectional"] else h_n[-1]
        initial = torch.tanh(self.bridge(final)) if self.bridge is not None else final
        h = initial[None].expand(cfg["decoderLayers"], B, cfg["hiddenSize"]).contiguous()
        state = (h, torch.zeros_like(h)) if cfg["cell"] == "lstm" else h
        mask = torch.arange(S)[None, :] < source_lengths[:, None]
        tilde = torch.zeros(B, cfg["hiddenSize"])
        logits, weights = [], []
        for t in range(inputs.shape[0]):
            x = self.decoder.embedding(inputs[t])
            if cfg["attention"] != "none":
                x = torch.cat([x, tilde], dim=1)
            out, state = self.decoder.rnn(x[None], state)
            top = out[0]
            if cfg["attention"] == "none":
                tilde = top
            else:
                context, a = self.attention(top, memory, mask)
                weights.append(a)
                tilde = torch.tanh(self.combine(torch.cat([context, top], dim=1)))
            logits.append(self.head(tilde))
        return torch.stack(logits), (torch.stack(weights) if weights else None)


def save_seq2seq(model, source_symbols, target_symbols, path, extra=None):
    """Writes an encoder-decoder file that `charlm seq2seq` accepts (target_symbols[0] is the boundary)."""
    config = dict(model.config)
    config["sourceVocabularySize"], config["targetVocabularySize"] = len(source_symbols), len(target_symbols)
    config.setdefault("dropout", 0.0)
    meta = {
        "format": "charlm-model/1",
        "charlm.task": "seq2seq",
        "charlm.seq2seq-config": json.dumps(config, sort_keys=True, separators=(",", ":")),
        "charlm.source-symbols": json.dumps(source_symbols),
        "charlm.target-symbols": json.dumps(target_symbols),
    }
    meta.update(extra or {})
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, path, metadata=meta)


def load_seq2seq(path, map_location="cpu"):
    """Returns (model, source_symbols, target_symbols) of a CharLM encoder-decoder file."""
    with safe_open(path, framework="pt", device=str(map_location)) as f:
        meta = f.metadata() or {}
        if meta.get("charlm.task") != "seq2seq":
            raise ValueError(f"{path} is not a CharLM encoder-decoder (charlm.task is not seq2seq)")
        model = Seq2SeqModel(json.loads(meta["charlm.seq2seq-config"]))
        state = {name: f.get_tensor(name) for name in model.state_dict()}
    model.load_state_dict(state)
    return model, json.loads(meta["charlm.source-symbols"]), json.loads(meta["charlm.target-symbols"])
