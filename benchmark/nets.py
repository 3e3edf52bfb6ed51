"""Small MLP helpers shared by SEs and agents: construction, seeded initialisation, flat-vector views."""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}
"""Activation name -> module class (LeakyReLU uses torch's default slope 0.01)."""

ACTIVATION_FNS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": torch.nn.functional.leaky_relu,
}
"""Activation name -> function, for the batched engine."""


def mlp(in_dim: int, hidden_size: int, hidden_layers: int, out_dim: int, activation: str) -> nn.Sequential:
    """in -> [hidden, act] x layers -> out."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(hidden_layers):
        layers += [nn.Linear(width, hidden_size), ACTIVATIONS[activation]()]
        width = hidden_size
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    """The Linear layers of a module in registration order."""
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


@torch.no_grad()
def init_uniform_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """torch's default Linear init scale, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from `generator`
    layer by layer (weight, then bias), so the batched engine can draw the same numbers."""
    for layer in linear_layers(module):
        bound = 1.0 / layer.in_features ** 0.5
        layer.weight.copy_(uniform_tensor(layer.weight.shape, bound, generator))
        layer.bias.copy_(uniform_tensor(layer.bias.shape, bound, generator))
    return module


def uniform_tensor(shape, bound: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound


def flat_parameters(module: nn.Module) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector(module.parameters()).detach().clone()


@torch.no_grad()
def load_flat_parameters(module: nn.Module, flat: torch.Tensor) -> nn.Module:
    torch.nn.utils.vector_to_parameters(torch.as_tensor(flat, dtype=torch.float32), module.parameters())
    return module
