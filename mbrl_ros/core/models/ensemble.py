"""Probabilistic ensemble dynamics model (PETS, Chua et al. 2018): Gaussian delta-state predictions.

All members run in one batched matmul per layer: inputs are shaped (members, batch, features).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F


class EnsembleLinear(nn.Module):
    def __init__(self, members: int, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(members, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(members, 1, out_features))
        nn.init.trunc_normal_(self.weight, std=1.0 / (2.0 * math.sqrt(in_features)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def differentiable_in(*inputs: torch.Tensor):
    """Autograd for a prediction only where an input asks for it (a gradient planner's actions),
    never for the weights alone: predictions for planning and evaluation build no graph."""
    return torch.set_grad_enabled(torch.is_grad_enabled() and any(x.requires_grad for x in inputs))


class GaussianEnsemble(nn.Module):
    """Predicts next state = state + delta, delta ~ N(mean, var), one Gaussian per member.

    Inputs are normalised with data statistics and so are the delta targets; the log-variance is
    kept between learned soft bounds, each member's own, so that it cannot collapse or explode. The
    members share nothing but the normalisation: each can be trained apart (`select`, `join`).
    `ignored_inputs` are state columns the dynamics do not depend on (a drone's position): they are predicted but not
    fed to the network, so what it learns in one place holds everywhere. `angle_columns`: (angle,
    sine, cosine) column triples of continuous joints: the network sees the angle as its sine and
    cosine and predicts the angle's change, and the sine and cosine of a prediction are those of its
    angle, so that a turn is learned as one number rather than as a rotation of a vector.
    """

    def __init__(self, state_dim: int, action_dim: int, members: int = 5, hidden: int = 200, layers: int = 3,
                 ignored_inputs: tuple[int, ...] = (), angle_columns: tuple[tuple[int, int, int], ...] = ()):
        super().__init__()
        self.state_dim, self.action_dim = state_dim, action_dim
        self.members, self.hidden, self.num_layers = members, hidden, layers
        self.ignored_inputs = tuple(int(i) for i in ignored_inputs)
        self.angle_columns = tuple(tuple(int(i) for i in triple) for triple in angle_columns)
        sizes = [state_dim + action_dim] + [hidden] * layers
        self.layers = nn.ModuleList(EnsembleLinear(members, a, b) for a, b in zip(sizes, sizes[1:]))
        self.head = EnsembleLinear(members, hidden, 2 * state_dim)
        self.max_logvar = nn.Parameter(torch.full((members, 1, state_dim), 0.5))
        self.min_logvar = nn.Parameter(torch.full((members, 1, state_dim), -10.0))
        for name, size in (("input", state_dim + action_dim), ("target", state_dim)):
            self.register_buffer(f"{name}_mean", torch.zeros(size))
            self.register_buffer(f"{name}_std", torch.ones(size))
        mask = torch.ones(state_dim + action_dim)
        mask[list(self.ignored_inputs)] = 0.0
        self.register_buffer("input_mask", mask, persistent=False)
        angle, sine, cosine = zip(*self.angle_columns) if self.angle_columns else ((), (), ())
        for name, columns in (("angle_index", angle), ("sine_index", sine), ("cosine_index", cosine)):
            self.register_buffer(name, torch.tensor(columns, dtype=torch.long), persistent=False)

    def config(self) -> dict:
        return {"state_dim": self.state_dim, "action_dim": self.action_dim, "members": self.members,
                "hidden": self.hidden, "layers": self.num_layers, "ignored_inputs": list(self.ignored_inputs),
                "angle_columns": [list(triple) for triple in self.angle_columns]}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Checkpoints written before the bounds were per member hold one bound for all: each member gets it."""
        for name in ("max_logvar", "min_logvar"):
            bound = state_dict.get(prefix + name)
            if bound is not None and bound.dim() == 1:
                state_dict[prefix + name] = bound.expand(self.members, 1, -1).clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def select(self, members: list[int]) -> "GaussianEnsemble":
        """A copy holding only these members (and the normalisation), to train apart."""
        part = GaussianEnsemble(**self.config() | {"members": len(members)}).to(self.input_mean.device)
        index, per_member = torch.as_tensor(members, device=self.input_mean.device), self._per_member()
        part.load_state_dict({name: value.index_select(0, index) if name in per_member else value
                              for name, value in self.state_dict().items()})
        return part

    @classmethod
    def join(cls, parts: list["GaussianEnsemble"]) -> "GaussianEnsemble":
        """One ensemble of the members of `parts` (which share the normalisation), in order; one part
        is itself."""
        if len(parts) == 1:
            return parts[0]
        whole = cls(**parts[0].config() | {"members": sum(p.members for p in parts)}).to(parts[0].input_mean.device)
        states, per_member = [p.state_dict() for p in parts], whole._per_member()
        whole.load_state_dict({name: torch.cat([s[name] for s in states]) if name in per_member else value
                               for name, value in states[0].items()})
        return whole

    def _per_member(self) -> set[str]:
        """The parameters whose first dimension is the member."""
        return {name for name, _ in self.named_parameters()}

    @property
    def input_scale(self) -> torch.Tensor:
        """What normalises an input: 1 / std, and 0 for the ignored ones."""
        return self.input_mask / self.input_std

    @torch.no_grad()
    def set_normalization(self, inputs: torch.Tensor, targets: torch.Tensor, keep_predictions: bool = False) -> None:
        """New data statistics. With `keep_predictions` (a trained model, warm-started on more
        data) the first layer and the head are rescaled to match, so that the model predicts
        exactly what it did before, in the data's units."""
        input_mean, input_std = inputs.mean(0), inputs.std(0).clamp_min(1e-6)
        target_mean, target_std = targets.mean(0), targets.std(0).clamp_min(1e-6)
        if keep_predictions:
            self._rescale(input_mean, input_std, target_mean, target_std)
        for buffer, value in ((self.input_mean, input_mean), (self.input_std, input_std),
                              (self.target_mean, target_mean), (self.target_std, target_std)):
            buffer.copy_(value)

    def _rescale(self, input_mean, input_std, target_mean, target_std) -> None:
        first, s = self.layers[0], self.state_dim
        # x_old = (x - m_old) / s_old = x_new * s_new / s_old + (m_new - m_old) / s_old
        first.bias += (((input_mean - self.input_mean) / self.input_std * self.input_mask) @ first.weight)[:, None]
        first.weight *= (input_std / self.input_std)[:, None]
        # delta = out_old * t_old + m_old = out_new * t_new + m_new, and the variance scales with t^2
        ratio = self.target_std / target_std
        self.head.weight[..., :s] *= ratio
        self.head.bias[..., :s] = self.head.bias[..., :s] * ratio + (self.target_mean - target_mean) / target_std
        shift = 2 * torch.log(ratio)
        self.head.bias[..., s:] += shift
        self.max_logvar += shift
        self.min_logvar += shift

    def forward(self, normalized_inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of the normalised delta, (members, batch, state_dim) each."""
        x = normalized_inputs
        for layer in self.layers:
            x = F.silu(layer(x))
        mean, logvar = self.head(x).chunk(2, dim=-1)
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return mean, logvar

    def normalize_inputs(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return (torch.cat([states, actions], dim=-1) - self.input_mean) * self.input_scale

    def predict(self, states: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-member mean and variance of the next state, in the data's units."""
        with differentiable_in(states, actions):
            mean, logvar = self(self.normalize_inputs(states, actions))
            next_states = self.with_angle_features(states + mean * self.target_std + self.target_mean)
            return next_states, torch.exp(logvar) * self.target_std**2

    def with_angle_features(self, states: torch.Tensor) -> torch.Tensor:
        """`states` with each continuous joint's sine and cosine made those of its angle."""
        if not self.angle_columns:
            return states
        angles = states.index_select(-1, self.angle_index)
        states = states.index_copy(-1, self.sine_index, torch.sin(angles).to(states.dtype))
        return states.index_copy(-1, self.cosine_index, torch.cos(angles).to(states.dtype))

    def rollout_means(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The planners' hot path: member m follows its own mean prediction for the particles
        state[m] (members, particles, S) under actions[m] (members, particles, H, A); returns
        (members, particles, H+1, S). Equal to repeated `predict` means, with less work per step:
        the normalisations are folded into the weights, the actions' share of the first layer is
        computed for all steps at once, and only the mean half of the output layer is evaluated.

        A model cast to bfloat16 runs its products in bfloat16 while the states stay in the dtype
        they come in: small deltas are not lost to bfloat16's 8-bit mantissa."""
        with differentiable_in(state, actions):
            inplace = not torch.is_grad_enabled()
            members, particles, horizon, action_dim = actions.shape
            state_weight, action_weight, first_bias = self._folded_input_layer()
            head_weight, head_bias = self._folded_head()
            dtype = head_weight.dtype
            step_major = actions.to(dtype).transpose(1, 2).reshape(members, horizon * particles, action_dim)
            action_part = torch.baddbmm(first_bias, step_major, action_weight).view(members, horizon, particles, -1)
            states = [state]
            for t in range(horizon):
                x = F.silu(torch.baddbmm(action_part[:, t], state.to(dtype), state_weight), inplace=inplace)
                for layer in itertools.islice(self.layers, 1, None):  # slicing builds a ModuleList
                    x = F.silu(torch.baddbmm(layer.bias, x, layer.weight), inplace=inplace)
                state = self.with_angle_features(state + torch.baddbmm(head_bias, x, head_weight))
                states.append(state)
            return torch.stack(states, dim=2)

    def rollout_expectation(self, state: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The check of a chosen plan: every member predicts from the same state, which moves on as
        their mean. States (N, H+1, S) under actions (N, H, A) from `state` (N, S), and the members'
        disagreement at each step (N, H): the summed variance of their predictions. Equal to repeated
        `predict` means, with rollout_means's folded weights: a few products a step instead of the
        whole network's bookkeeping, which dominates for the one or two sequences checked."""
        with differentiable_in(state, actions):
            n, horizon, action_dim = actions.shape
            state_weight, action_weight, first_bias = self._folded_input_layer()
            head_weight, head_bias = self._folded_head()
            step_major = actions.transpose(0, 1).reshape(1, horizon * n, action_dim).expand(self.members, -1, -1)
            action_part = torch.baddbmm(first_bias, step_major, action_weight).view(self.members, horizon, n, -1)
            states, disagreement = [state], []
            for t in range(horizon):
                x = F.silu(torch.baddbmm(action_part[:, t], state.expand(self.members, -1, -1), state_weight))
                for layer in itertools.islice(self.layers, 1, None):  # slicing builds a ModuleList
                    x = F.silu(torch.baddbmm(layer.bias, x, layer.weight))
                predictions = self.with_angle_features(state + torch.baddbmm(head_bias, x, head_weight))
                disagreement.append(predictions.var(0).sum(-1))
                state = predictions.mean(0)
                states.append(state)
            return torch.stack(states, dim=1), torch.stack(disagreement, dim=1)

    def _folded_input_layer(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The first layer's state weight, action weight and bias, for inputs in the data's units."""
        first = self.layers[0]
        weight = first.weight * self.input_scale[:, None]
        bias = first.bias - ((self.input_mean * self.input_scale) @ first.weight)[:, None]
        return weight[:, :self.state_dim], weight[:, self.state_dim:], bias

    def _folded_head(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean half of the output layer, giving the delta in the data's units."""
        s = self.state_dim
        return (self.head.weight[..., :s] * self.target_std,
                self.head.bias[..., :s] * self.target_std + self.target_mean)
