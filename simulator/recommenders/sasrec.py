"""SASRec (Kang & McAuley 2018): a small causal transformer over each user's item sequence.

Sized to train on a CPU in well under a minute on MovieLens-100K, so sequential
recommendation can be a baseline without a GPU. ``torch`` is imported on first fit.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from simulator.dataset import Dataset
from simulator.progress import advance, phase
from simulator.recommenders.base import RecommenderConfig
from simulator.recommenders.content import item_texts
from simulator.recommenders.knn import MatrixRecommender


class SASRecConfig(RecommenderConfig):
    """Args:
    max_len: Most recent items the model reads; longer histories train as windows.
    hidden: Embedding and model width.
    blocks: Transformer blocks.
    heads: Attention heads (must divide ``hidden``).
    dropout: Dropout on embeddings and inside blocks.
    epochs: Passes over the training windows.
    batch_size: Windows per step.
    learning_rate: Adam step size.
    text_init: Start the item embeddings from the items' text (title, genres,
        description) embedded by ``hashing`` or ``minilm`` and projected onto the model's
        width by PCA, instead of at random: items that read alike start alike, which
        helps the rarely seen ones (and LLM-enriched descriptions reach the model).
    """

    max_len: int = Field(50, ge=2)
    hidden: int = Field(64, ge=4)
    blocks: int = Field(2, ge=1)
    heads: int = Field(1, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(5e-3, gt=0)
    text_init: Literal["none", "hashing", "minilm"] = "none"


def _build_net(n_items: int, c: SASRecConfig):  # returns a torch.nn.Module
    import torch
    from torch import nn

    class SASRecNet(nn.Module):
        """Item + learned positional embeddings, pre-norm causal blocks, final norm."""

        def __init__(self) -> None:
            super().__init__()
            self.item_emb = nn.Embedding(n_items + 1, c.hidden, padding_idx=0)
            self.pos_emb = nn.Embedding(c.max_len, c.hidden)
            self.drop = nn.Dropout(c.dropout)
            layer = nn.TransformerEncoderLayer(
                c.hidden, c.heads, c.hidden, c.dropout, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, c.blocks, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(c.hidden)
            mask = torch.triu(torch.full((c.max_len, c.max_len), float("-inf")), diagonal=1)
            self.register_buffer("causal", mask, persistent=False)

        def forward(self, seq: torch.Tensor) -> torch.Tensor:
            length = seq.shape[1]
            pad = (seq != 0).unsqueeze(-1).float()
            x = self.item_emb(seq) * math.sqrt(c.hidden)
            x = self.drop(x + self.pos_emb(torch.arange(length, device=seq.device))) * pad
            # Left padding plus a causal mask: padded positions are zeroed, never targets.
            x = self.encoder(x, mask=self.causal[:length, :length], is_causal=True)
            return self.norm(x) * pad

    return SASRecNet()


class SASRecRecommender(MatrixRecommender):
    """Next-item scores from the last hidden state of the user's recent sequence.

    Trained with binary cross-entropy against one uniformly sampled negative per
    position. ``update`` appends to users' sequences, so their next slates follow their
    latest choices at once; the weights change only on ``fit``. Users without history
    get popularity.
    """

    name = "sasrec"
    config_class = SASRecConfig
    config: SASRecConfig

    def __init__(self, config: SASRecConfig | None = None, *, seed: int | None = None) -> None:
        super().__init__(config, seed=seed)
        self._sequences: list[list[int]] = []
        self._net = None
        self._text_init: np.ndarray | None = None

    def fit(self, data: Dataset) -> None:
        self._text_init = None
        if self.config.text_init != "none":
            from memory.embedders import make_embedder

            # float32: embedded once, and the same on any CPU.
            embedder = make_embedder(self.config.text_init, "float32")
            vectors = embedder.embed(item_texts(data.items))
            self._text_init = text_projection(np.asarray(vectors), self.config.hidden)
        super().fit(data)

    def _fit(self, interactions: pd.DataFrame) -> None:
        self._sequences = []
        super()._fit(interactions)

    def _add(self, interactions: pd.DataFrame) -> np.ndarray:
        touched = super()._add(interactions)
        ordered = interactions.sort_values("timestamp", kind="stable")
        cols = ordered["item_id"].map(self._item_index)
        known = cols.notna().to_numpy()
        self._sequences.extend([] for _ in range(len(self.user_ids) - len(self._sequences)))
        for user, col in zip(
            ordered["user_id"].to_numpy()[known], cols[known].astype(int), strict=True
        ):
            self._sequences[self._user_index[user]].append(col + 1)  # 0 is padding
        return touched

    def _windows(self) -> tuple[np.ndarray, np.ndarray]:
        """Left-padded (input, target) windows of ``max_len`` cut back from each end."""
        size = self.config.max_len
        inputs, targets = [], []
        for seq in self._sequences:
            for end in range(len(seq), 1, -size):
                chunk = seq[max(0, end - size - 1) : end]
                padding = [0] * (size + 1 - len(chunk))
                inputs.append(padding + chunk[:-1])
                targets.append(padding + chunk[1:])
        return np.asarray(inputs, dtype=np.int64), np.asarray(targets, dtype=np.int64)

    def _train(self) -> None:
        import torch

        c = self.config
        seed = self.seed if self.seed is not None else 0
        inputs, targets = self._windows()
        training = f"training {self.name} ({len(inputs):,} windows, {c.epochs} epochs)"
        with torch.random.fork_rng(devices=[]), phase(self.progress, training):
            torch.manual_seed(seed)
            net = _build_net(len(self.item_ids), c)
            if self._text_init is not None:
                with torch.no_grad():
                    net.item_emb.weight[1:] = torch.from_numpy(self._text_init)
            if len(inputs):
                gen = torch.Generator().manual_seed(seed)
                x_all, y_all = torch.from_numpy(inputs), torch.from_numpy(targets)
                opt = torch.optim.Adam(net.parameters(), lr=c.learning_rate, betas=(0.9, 0.98))
                loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")
                net.train()
                for epoch in range(c.epochs):
                    order = torch.randperm(len(x_all), generator=gen)
                    total, batches = 0.0, 0
                    for start in range(0, len(order), c.batch_size):
                        batch = order[start : start + c.batch_size]
                        x, y = x_all[batch], y_all[batch]
                        neg = torch.randint(1, len(self.item_ids) + 1, y.shape, generator=gen)
                        h = net(x)
                        emb = net.item_emb
                        pos_logit = (h * emb(y)).sum(-1)
                        neg_logit = (h * emb(neg)).sum(-1)
                        valid = y != 0
                        loss = loss_fn(
                            pos_logit[valid], torch.ones_like(pos_logit[valid])
                        ) + loss_fn(neg_logit[valid], torch.zeros_like(neg_logit[valid]))
                        opt.zero_grad()
                        mean = loss / valid.sum().clamp(min=1)
                        mean.backward()
                        opt.step()
                        total, batches = total + mean.item(), batches + 1
                    note = f"loss {total / batches:.4f}"
                    advance(self.progress, training, epoch + 1, c.epochs, note)
            net.eval()
        self._net = net

    def _known_scores(self, rows: np.ndarray) -> np.ndarray:
        import torch

        size = self.config.max_len
        seqs = np.zeros((len(rows), size), dtype=np.int64)
        for i, r in enumerate(rows):
            tail = self._sequences[r][-size:]
            if tail:
                seqs[i, size - len(tail) :] = tail
        with torch.no_grad():
            h = self._net(torch.from_numpy(seqs))[:, -1]
            scores = h @ self._net.item_emb.weight[1:].T
        return scores.numpy().astype(float)

    def _state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v.detach().numpy() for k, v in self._net.state_dict().items()}
        state["seq_items"] = np.asarray([i for s in self._sequences for i in s], dtype=np.int64)
        state["seq_offsets"] = np.cumsum([0, *map(len, self._sequences)]).astype(np.int64)
        return state

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        import torch

        items, offsets = arrays["seq_items"], arrays["seq_offsets"]
        self._sequences = [
            items[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)
        ]
        net = _build_net(len(self.item_ids), self.config)
        net.load_state_dict(
            {k[4:]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k[:4] == "net."}
        )
        net.eval()
        self._net = net


def text_projection(vectors: np.ndarray, width: int) -> np.ndarray:
    """Item text vectors projected onto their ``width`` leading principal components and
    scaled to unit variance per entry, as ``nn.Embedding`` initialises (float32).

    With fewer items or dimensions than ``width``, the remaining columns are 0.
    """
    x = np.asarray(vectors, dtype=np.float64)
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    k = min(width, len(s))
    out = np.zeros((len(x), width))
    out[:, :k] = u[:, :k] * s[:k]
    std = out[:, :k].std()
    return (out / std if std > 0 else out).astype(np.float32)
