"""The fold plans of an MLP branch trained side by side, as one stacked model.

Every plan (test fold, or test fold x inner fold) fits its own :class:`emo_utils.models.MLP` on its own rows, with
its own shuffling, its own standardisation and early stopping on its own validation actors only. Stacking their
weights (plan, in, out) turns the many small matrix products of one-at-a-time training into a few large batched
ones: each optimiser step moves every plan that still trains by one mini-batch of its own rows. Rows that pad a
shorter plan's batch are masked out of its loss and of its batch-norm statistics, and a plan without a batch this
step (fewer batches, or stopped early) is left exactly as it is, and not computed. With dropout 0 the result
equals :func:`emo_utils.train.fit_model` run plan by plan, up to floating-point rounding.

With dropout, each plan draws its masks from its own generator, but one mask of the group's batch width at every
step of its group while it trains, also in a step where it has no batch of its own. So a plan's result depends on
the plans it is grouped with (which plans have more batches, when they stop): training a subset of a group's
plans, or grouping them otherwise (``n_jobs`` in :func:`emo_utils.train.cross_validate`), changes it.

A plan given a teacher's soft targets mixes them into its loss (:func:`soft_target_loss`, for
:mod:`emo_utils.distill`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from emo_utils.models import MLP, build_model

if TYPE_CHECKING:
    from emo_utils.train import TrainConfig

BN_EPS, BN_MOMENTUM = 1e-5, 0.1  # torch.nn.BatchNorm1d's defaults, which models.MLP uses
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.AdamW's defaults, which fit_model uses
MEMORY_BUDGET_BYTES = 768 * 2**20  # weights, gradients, Adam moments and the best state of the plans of one group


@dataclass
class PlanRows:
    """The rows one plan fits on and stops early on, and the standardisation fitted on its fit rows."""

    fit_rows: np.ndarray
    val_rows: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    teacher: np.ndarray | None = None  # (N, C) soft targets of every row at ``temperature`` (NaN: none), or None
    temperature: float = 1.0
    teacher_weight: float = 0.0  # share of the loss that follows the teacher


def soft_target_loss(
    ce: torch.Tensor, logits: torch.Tensor, teacher: torch.Tensor, temperature: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Knowledge distillation's loss per row (Hinton et al. 2015): ``(1 - w) * ce + w * T^2 * KL(teacher ||
    softmax(logits / T))`` of (L, B) cross-entropies, (L, B, C) logits and teacher probabilities already at
    temperature T, with T and w per plan (L,). A row whose teacher is NaN keeps its cross-entropy."""
    has_teacher = ~torch.isnan(teacher).any(-1)
    target = torch.nan_to_num(teacher)
    log_student = torch.log_softmax(logits / temperature[:, None, None], dim=-1)
    kl = (torch.xlogy(target, target) - target * log_student).sum(-1)
    w = weight[:, None] * has_teacher
    return (1 - w) * ce + w * temperature[:, None] ** 2 * kl


class StackedMLP:
    """``P`` copies of :class:`emo_utils.models.MLP` with the same layer sizes, weights stacked on a first axis."""

    def __init__(self, models: Sequence[MLP], seed: int = 0) -> None:
        layers = [list(m.net) for m in models]
        # one dropout stream per plan, advanced at every step of the group (see the module docstring)
        self.generators = [torch.Generator().manual_seed(seed) for _ in models]
        first = layers[0]
        self.n_hidden = (len(first) - 1) // 4
        self.dropout = [float(first[4 * i + 3].p) for i in range(self.n_hidden)]

        def stack(get: Callable[[list[nn.Module]], torch.Tensor]) -> torch.Tensor:
            return torch.stack([get(net).detach().clone() for net in layers])

        self.params: list[torch.Tensor] = []
        self.buffers: list[torch.Tensor] = []
        for i in range(self.n_hidden):
            lin, bn = 4 * i, 4 * i + 1
            self.params += [
                stack(lambda n, k=lin: n[k].weight.T),
                stack(lambda n, k=lin: n[k].bias),
                stack(lambda n, k=bn: n[k].weight),
                stack(lambda n, k=bn: n[k].bias),
            ]
            self.buffers += [stack(lambda n, k=bn: n[k].running_mean), stack(lambda n, k=bn: n[k].running_var)]
        last = 4 * self.n_hidden
        self.params += [stack(lambda n: n[last].weight.T), stack(lambda n: n[last].bias)]
        self.batches_tracked = torch.zeros(len(models), dtype=torch.long)
        for p in self.params:
            p.requires_grad_(True)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, slots: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits (L, B, C) of inputs (L, B, F) of the plans in ``slots`` (default: all), only these computed.
        Training mode when ``mask`` (L, B) is given: batch-norm statistics over each plan's unmasked rows, its
        running statistics updated, dropout drawn from its own generator."""
        h = x
        pick = (lambda t: t) if slots is None else (lambda t: t.index_select(0, slots))
        generators = self.generators if slots is None else [self.generators[int(k)] for k in slots]
        for i in range(self.n_hidden):
            weight, bias, gamma, beta = (pick(t) for t in self.params[4 * i : 4 * i + 4])
            stored = self.buffers[2 * i : 2 * i + 2]
            running_mean, running_var = (pick(t) for t in stored)
            h = torch.baddbmm(bias[:, None, :], h, weight)
            if mask is None:
                h = (h - running_mean[:, None]) / torch.sqrt(running_var[:, None] + BN_EPS)
            else:
                m = mask[..., None].to(h.dtype)
                count = m.sum(1).clamp(min=1.0)
                mean = (h * m).sum(1) / count
                var = (((h - mean[:, None]) ** 2) * m).sum(1) / count
                h = (h - mean[:, None]) / torch.sqrt(var[:, None] + BN_EPS)
                with torch.no_grad():
                    unbiased = var * count / (count - 1).clamp(min=1.0)
                    for buffer, now, batch in zip(stored, (running_mean, running_var), (mean, unbiased)):
                        moved = now.lerp(batch, BN_MOMENTUM)
                        buffer.copy_(moved) if slots is None else buffer.index_copy_(0, slots, moved)
            h = torch.relu(h * gamma[:, None] + beta[:, None])
            if mask is not None and self.dropout[i] > 0:
                keep = 1.0 - self.dropout[i]
                odds = torch.full(h.shape[1:], keep)
                h = h * torch.stack([torch.bernoulli(odds, generator=g) for g in generators]) / keep
        weight, bias = (pick(t) for t in self.params[-2:])
        return torch.baddbmm(bias[:, None, :], h, weight)

    def skip_dropout(self, slots: Sequence[int], width: int) -> None:
        """Draw, and drop, the dropout masks of a training step of ``width`` rows for the plans in ``slots`` that
        take no step: each plan's stream advances as if it had been computed beside the plans that step."""
        for i in range(self.n_hidden):
            if self.dropout[i] > 0:
                odds = torch.full((width, self.params[4 * i].shape[-1]), 1.0 - self.dropout[i])
                for k in slots:
                    torch.bernoulli(odds, generator=self.generators[k])

    def keep(self, slots: torch.Tensor) -> None:
        """Keep only the plans in ``slots`` (in that order): plans that stopped early are computed no more."""
        self.params = [p.detach()[slots].requires_grad_(True) for p in self.params]
        self.buffers = [b[slots] for b in self.buffers]
        self.batches_tracked = self.batches_tracked[slots]
        self.generators = [self.generators[int(k)] for k in slots]

    def state(self) -> list[torch.Tensor]:
        """Every stacked tensor (weights and running statistics), for keeping each plan's best epoch."""
        return [*self.params, *self.buffers, self.batches_tracked]

    def state_dict_of(self, plan: int, state: Sequence[torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Plan ``plan``'s weights under :class:`emo_utils.models.MLP`'s names (what its checkpoints hold)."""
        state = list(state) if state is not None else self.state()
        params, buffers = state[: len(self.params)], state[len(self.params) : -1]
        tracked = state[-1][plan].clone()
        out: dict[str, torch.Tensor] = {}
        for i in range(self.n_hidden):
            lin, bn = 4 * i, 4 * i + 1
            weight, bias, gamma, beta = (t[plan].detach().clone() for t in params[4 * i : 4 * i + 4])
            out[f"net.{lin}.weight"], out[f"net.{lin}.bias"] = weight.T.contiguous(), bias
            out[f"net.{bn}.weight"], out[f"net.{bn}.bias"] = gamma, beta
            out[f"net.{bn}.running_mean"] = buffers[2 * i][plan].clone()
            out[f"net.{bn}.running_var"] = buffers[2 * i + 1][plan].clone()
            out[f"net.{bn}.num_batches_tracked"] = tracked
        last = 4 * self.n_hidden
        out[f"net.{last}.weight"] = params[-2][plan].detach().T.contiguous()
        out[f"net.{last}.bias"] = params[-1][plan].detach().clone()
        return out


class StackedAdamW:
    """torch.optim.AdamW's update on stacked weights, applied only to the plans that take a step."""

    def __init__(self, params: Sequence[torch.Tensor], n_plans: int, lr: float, weight_decay: float) -> None:
        self.params = list(params)
        self.lr, self.weight_decay = lr, weight_decay
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = torch.zeros(n_plans, dtype=torch.float64)
        self._scratch()

    def _scratch(self) -> None:
        """Two work tensors per weight, allocated once instead of at every step."""
        self.denom = [torch.empty_like(p, requires_grad=False) for p in self.params]
        self.scaled = [torch.empty_like(p, requires_grad=False) for p in self.params]

    @torch.no_grad()
    def step(self, slots: torch.Tensor | None = None) -> None:
        """One AdamW step of the plans in ``slots`` (default: all), each in place on its own slice; the others
        keep weights and moments."""
        if slots is None:
            self.steps += 1.0
        else:
            self.steps[slots] += 1.0
        for tensors in zip(self.params, self.exp_avg, self.exp_avg_sq, self.denom, self.scaled):
            p = tensors[0]
            grad = p.grad if p.grad is not None else torch.zeros_like(p)
            if slots is None:
                self._update(*tensors, grad, self.steps)
            else:
                for k in slots.tolist():
                    self._update(*(t[k : k + 1] for t in (*tensors, grad, self.steps)))
            p.grad = None

    def keep(self, slots: torch.Tensor, params: Sequence[torch.Tensor]) -> None:
        """Keep only the plans in ``slots`` (as :meth:`StackedMLP.keep`), whose weights are now ``params``."""
        self.params = list(params)
        self.exp_avg = [m[slots] for m in self.exp_avg]
        self.exp_avg_sq = [v[slots] for v in self.exp_avg_sq]
        self.steps = self.steps[slots]
        self._scratch()

    def _update(
        self,
        p: torch.Tensor,
        m: torch.Tensor,
        v: torch.Tensor,
        denom: torch.Tensor,
        scaled: torch.Tensor,
        grad: torch.Tensor,
        steps: torch.Tensor,
    ) -> None:
        """torch.optim.AdamW's arithmetic, in place, with a step count per plan (``denom`` and ``scaled``: work
        space)."""
        beta1, beta2 = ADAM_BETAS
        shape = (-1,) + (1,) * (p.dim() - 1)
        correction1 = (1 - beta1**steps).to(torch.float32).view(shape)
        correction2_sqrt = (1 - beta2**steps).sqrt().to(torch.float32).view(shape)
        p.mul_(1 - self.lr * self.weight_decay)
        m.lerp_(grad, 1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        torch.sqrt(v, out=denom).div_(correction2_sqrt).add_(ADAM_EPS)
        torch.mul(m, self.lr / correction1, out=scaled)
        p.addcdiv_(scaled, denom, value=-1.0)


def plans_per_group(model: nn.Module, budget: int = MEMORY_BUDGET_BYTES) -> int:
    """How many plans train side by side: their weights, gradients, Adam moments, best state and the
    activations of a step (about eight copies of the weights) within ``budget`` bytes."""
    n_weights = sum(p.numel() for p in model.parameters())
    return max(1, budget // (8 * 4 * n_weights))


def _batches_of(plan: PlanRows, rng: np.random.Generator, batch_size: int) -> list[np.ndarray]:
    """One epoch of the plan's fit rows in mini-batches, shuffled by the plan's own generator (as fit_model)."""
    order = rng.permutation(len(plan.fit_rows))
    return [plan.fit_rows[order[i : i + batch_size]] for i in range(0, len(order), batch_size)]


def _gather(
    X: torch.Tensor, rows: Sequence[np.ndarray], mean: torch.Tensor, std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each plan's rows, standardised with its own statistics, padded to (P, B, F); the index and the mask."""
    width = max(1, max(len(r) for r in rows))
    index = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for p, r in enumerate(rows):
        index[p, : len(r)] = torch.from_numpy(np.asarray(r, dtype=np.int64))
        mask[p, : len(r)] = True
    batch = (X[index] - mean[:, None]) / std[:, None]
    return batch * mask[..., None], index, mask


def fit_stacked(
    X: np.ndarray,
    y: np.ndarray,
    plans: Sequence[PlanRows],
    config: TrainConfig,
    n_classes: int,
) -> list[tuple[nn.Module, list[dict[str, float]]]]:
    """Train one MLP per plan as :func:`emo_utils.train.fit_model` does (same initial weights, same shuffling
    per plan, AdamW, early stopping on the plan's validation rows), the plans side by side in groups that fit
    :data:`MEMORY_BUDGET_BYTES`. Each plan draws its dropout from its own generator, at every step of its group
    (the module docstring says why its result depends on the group). Returns each plan's best model (eval mode,
    on the CPU) and its curve."""
    X_t, y_t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)), torch.from_numpy(y.astype(np.int64))
    probe = build_model(config.model, X.shape[1:], n_classes=n_classes, **config.model_kwargs)
    size = plans_per_group(probe)
    out: list[tuple[nn.Module, list[dict[str, float]]]] = []
    for start in range(0, len(plans), size):
        out += _fit_group(X_t, y_t, plans[start : start + size], config, n_classes)
    return out


def _teachers(
    plans: Sequence[PlanRows], n_rows: int, n_classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """The plans' soft targets (P, N, C), temperatures and teacher weights (P,); None when no plan has a teacher."""
    if all(p.teacher is None for p in plans):
        return None
    none = np.full((n_rows, n_classes), np.nan, np.float32)
    soft = np.stack([none if p.teacher is None else p.teacher.astype(np.float32) for p in plans])
    temperature = torch.tensor([p.temperature for p in plans], dtype=torch.float32)
    weight = torch.tensor([p.teacher_weight if p.teacher is not None else 0.0 for p in plans], dtype=torch.float32)
    return torch.from_numpy(soft), temperature, weight


def _fit_group(
    X: torch.Tensor, y: torch.Tensor, plans: Sequence[PlanRows], config: TrainConfig, n_classes: int
) -> list[tuple[nn.Module, list[dict[str, float]]]]:
    """Train ``plans`` side by side. The stacked model holds the plans still training (slot ``s`` holds plan
    ``live[s]``); a step computes only the plans that have a batch in it."""
    c = config
    models = []
    for _ in plans:
        torch.manual_seed(c.seed)  # fit_model's initial weights, for every plan
        models.append(build_model(c.model, X.shape[1:], n_classes=n_classes, **c.model_kwargs))
    stacked = StackedMLP(models, c.seed)
    optimiser = StackedAdamW(stacked.params, len(plans), c.lr, c.weight_decay)
    mean = torch.from_numpy(np.stack([p.mean for p in plans]).astype(np.float32))
    std = torch.from_numpy(np.stack([p.std for p in plans]).astype(np.float32))
    if mean.shape[-1] != X.shape[-1]:  # standardisation off: (1,) statistics
        mean, std = mean.expand(len(plans), X.shape[-1]), std.expand(len(plans), X.shape[-1])
    val_x, val_index, val_mask = _gather(X, [p.val_rows for p in plans], mean, std)
    val_y = y[val_index]
    teacher = _teachers(plans, X.shape[0], n_classes)
    rngs = [np.random.default_rng(c.seed) for _ in plans]
    active = np.ones(len(plans), dtype=bool)
    best_loss = np.full(len(plans), np.inf)
    since_best = np.zeros(len(plans), dtype=int)
    best = [t.detach().clone() for t in stacked.state()]
    curves: list[list[dict[str, float]]] = [[] for _ in plans]
    for epoch in range(1, c.epochs + 1):
        live = np.flatnonzero(active)  # the plans in the stacked model, slot by slot
        batches = [_batches_of(plans[k], rngs[k], c.batch_size) for k in live]
        totals = np.zeros(len(plans))
        for s in range(max(len(b) for b in batches)):
            rows = [
                b[s] if s < len(b) and len(b[s]) >= 2 else np.empty(0, np.int64)  # BatchNorm needs two
                for b in batches
            ]
            stepping = np.array([len(r) > 0 for r in rows])
            if not stepping.any():
                continue
            moving = np.flatnonzero(stepping)
            x, index, mask = _gather(X, [rows[k] for k in moving], mean[live[moving]], std[live[moving]])
            slots = None if stepping.all() else torch.from_numpy(moving)
            if slots is not None:
                stacked.skip_dropout(np.flatnonzero(~stepping).tolist(), x.shape[1])
            logits = stacked.forward(x, mask, slots)
            loss = F.cross_entropy(
                logits.reshape(-1, n_classes),
                y[index].reshape(-1),
                reduction="none",
                label_smoothing=c.label_smoothing,
            ).reshape(mask.shape)
            if teacher is not None:
                soft, temperature, weight = teacher
                computed = torch.from_numpy(live[moving])  # the plans this step computes, in logits' order
                loss = soft_target_loss(
                    loss, logits, soft[computed[:, None], index], temperature[computed], weight[computed]
                )
            count = mask.sum(1).clamp(min=1)
            per_plan = (loss * mask).sum(1) / count
            per_plan.sum().backward()
            optimiser.step(slots)
            stacked.batches_tracked[moving] += 1
            totals[live[moving]] += (per_plan.detach() * mask.sum(1)).double().numpy()
        with torch.no_grad():
            live_t = torch.from_numpy(live)
            proba = torch.softmax(stacked.forward(val_x[live_t]), dim=-1)
            picked = torch.log(proba.gather(-1, val_y[live_t][..., None]).squeeze(-1) + 1e-9)
            n_val = val_mask[live_t].sum(1).clamp(min=1)
            val_loss = (-(picked * val_mask[live_t]).sum(1) / n_val).numpy()
            val_acc = (((proba.argmax(-1) == val_y[live_t]) & val_mask[live_t]).sum(1) / n_val).numpy()
        improved = np.zeros(len(live), dtype=bool)
        for slot, k in enumerate(live):
            curves[k].append(
                {
                    "epoch": epoch,
                    "train_loss": float(totals[k]) / max(1, len(plans[k].fit_rows)),
                    "val_loss": float(val_loss[slot]),
                    "val_accuracy": float(val_acc[slot]),
                }
            )
            if val_loss[slot] < best_loss[k] - 1e-4:
                best_loss[k], since_best[k], improved[slot] = val_loss[slot], 0, True
            else:
                since_best[k] += 1
                if since_best[k] >= c.patience:
                    active[k] = False
        if improved.any():
            saved_slots = torch.from_numpy(np.flatnonzero(improved))
            saved_plans = torch.from_numpy(live[improved])
            for saved, now in zip(best, stacked.state()):
                saved[saved_plans] = now.detach()[saved_slots]
        if not active.any():
            break
        if not active[live].all():  # plans that stopped leave the stacked model
            still = torch.from_numpy(np.flatnonzero(active[live]))
            stacked.keep(still)
            optimiser.keep(still, stacked.params)
    out = []
    for k in range(len(plans)):
        model = models[k]
        model.load_state_dict(stacked.state_dict_of(k, best))
        model.n_classes = n_classes
        model.eval()
        out.append((model, curves[k]))
    return out
