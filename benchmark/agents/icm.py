"""Curiosity baseline for reward networks: an Intrinsic Curiosity Module (ICM, Pathak et al. 2017) as a wrapper.

`ICMEnv(env, config, seed)` adds to every real reward an intrinsic reward eta/2 * ||f(phi(s), a) - phi(s')||^2,
the squared error of a forward model f that predicts the next state's features phi(s') from the state's features
and the action. The module is trained online, one Adam step per environment step on that step's transition,
after the intrinsic reward of the step has been computed (so the reward measures surprise before learning):

- encoder phi: MLP x(s) -> feature_size (x(s): one-hot for Discrete observations, the flat vector for Box);
- inverse model g: MLP (phi(s), phi(s')) -> action (cross-entropy for Discrete actions, squared error for Box);
- forward model f: MLP (phi(s), a) -> phi(s') (a one-hot for Discrete actions), its target phi(s') detached;
- loss (1 - beta) * inverse loss + beta * forward loss (the encoder learns from the inverse loss only).

The module persists across episodes (it belongs to the wrapper, which lives as long as the agent's training).
Like RewardEnv, every step's info holds ``real_reward`` (so agents record real returns),
``intrinsic_reward`` and ``icm_diverged``: a non-finite intrinsic reward or loss counts as 0 / is not applied.
Randomness: the networks are initialised from `seed` (`benchmark.nets.init_uniform_`); nothing else is random,
so the same seed and the same transitions give the same rewards.
"""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from benchmark.errors import ConfigError, check_choice, check_range
from benchmark.nets import ACTIVATIONS, init_uniform_, mlp


@dataclass(frozen=True)
class ICMConfig:
    """Intrinsic Curiosity Module hyperparameters."""

    eta: float = 0.1
    """Scale of the intrinsic reward eta/2 * forward-model error."""
    beta: float = 0.2
    """Weight of the forward loss against the inverse loss (Pathak et al.: 0.2)."""
    lr: float = 1e-3
    """Adam learning rate of the module."""
    feature_size: int = 32
    """Size of the learned state features phi(s)."""
    hidden_size: int = 64
    """Units of the one hidden layer of the encoder, the inverse and the forward model."""
    activation: str = "leaky_relu"
    """Hidden activation: tanh, relu or leaky_relu."""

    def __post_init__(self):
        check_range("icm.eta", self.eta, 0.0, 1e6)
        check_range("icm.beta", self.beta, 0.0, 1.0)
        check_range("icm.lr", self.lr, 1e-7, 1.0)
        check_range("icm.feature_size", self.feature_size, 1, 4096, integer=True)
        check_range("icm.hidden_size", self.hidden_size, 1, 4096, integer=True)
        check_choice("icm.activation", self.activation, ACTIVATIONS)


def _space_size(space: gym.Space, what: str) -> int:
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    raise ConfigError(f"ICM needs a Discrete or Box {what} space, not {space}")


class ICM(nn.Module):
    """Encoder, inverse and forward model (see the module docstring)."""

    def __init__(self, obs_size: int, act_size: int, config: ICMConfig):
        super().__init__()
        c = config
        self.encoder = mlp(obs_size, c.hidden_size, 1, c.feature_size, c.activation)
        self.inverse = mlp(2 * c.feature_size, c.hidden_size, 1, act_size, c.activation)
        self.forward_model = mlp(c.feature_size + act_size, c.hidden_size, 1, c.feature_size, c.activation)


class ICMEnv(gym.Wrapper):
    """A real environment whose reward is the real reward plus an online-trained curiosity bonus."""

    def __init__(self, env: gym.Env, config: ICMConfig = ICMConfig(), seed: int = 0):
        super().__init__(env)
        self.config = config
        self.discrete_obs = isinstance(env.observation_space, gym.spaces.Discrete)
        self.discrete_act = isinstance(env.action_space, gym.spaces.Discrete)
        self.obs_size = _space_size(env.observation_space, "observation")
        self.act_size = _space_size(env.action_space, "action")
        self.module = init_uniform_(ICM(self.obs_size, self.act_size, config), torch.Generator().manual_seed(seed))
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=config.lr, foreach=False)
        self._obs = None
        self.diverged = False

    def _x(self, obs) -> torch.Tensor:
        if self.discrete_obs:
            x = torch.zeros(self.obs_size)
            x[int(obs)] = 1.0
            return x
        return torch.as_tensor(np.asarray(obs, np.float32).reshape(-1))

    def _a(self, action) -> torch.Tensor:
        if self.discrete_act:
            a = torch.zeros(self.act_size)
            a[int(action)] = 1.0
            return a
        return torch.as_tensor(np.asarray(action, np.float32).reshape(-1))

    def intrinsic(self, obs, action, next_obs, learn: bool = True) -> float:
        """eta/2 * ||f(phi(s), a) - phi(s')||^2 of one transition; then (learn) one update on it."""
        m, cfg = self.module, self.config
        x, x2, a = self._x(obs)[None], self._x(next_obs)[None], self._a(action)[None]
        phi, phi2 = m.encoder(x), m.encoder(x2)
        pred = m.forward_model(torch.cat([phi, a], dim=1))
        forward_error = 0.5 * ((pred - phi2.detach()) ** 2).sum()
        reward = cfg.eta * float(forward_error.detach())
        if learn:
            logits = m.inverse(torch.cat([phi, phi2], dim=1))
            if self.discrete_act:
                inverse_loss = nn.functional.cross_entropy(logits, torch.tensor([int(action)]))
            else:
                inverse_loss = 0.5 * ((logits - a) ** 2).sum()
            loss = (1 - cfg.beta) * inverse_loss + cfg.beta * forward_error
            if torch.isfinite(loss):
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
            else:
                self.diverged = True
        return reward

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._obs = obs
        return obs, info

    def step(self, action):
        assert self._obs is not None, "call reset() before step()"
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        bonus = self.intrinsic(self._obs, action, next_obs)
        bad = not np.isfinite(bonus)
        if bad:
            bonus, self.diverged = 0.0, True
        self._obs = next_obs
        return next_obs, float(reward) + bonus, terminated, truncated, {
            **info, "real_reward": float(reward), "intrinsic_reward": bonus, "icm_diverged": bad}
