"""Checks shared by the lockstep trainers' tests."""
import torch


def assert_padding_untouched(policy, hidden: int = 5) -> None:
    """Member 0 of a TD3-style policy (actor row 0, critic rows 0 and 2 = its Q1 and Q2) has `hidden` units and
    one hidden layer: its padded units and its gated second layer are still exactly zero."""
    for net, rows in ((policy.actor, [0]), (policy.critic, [0, 2])):
        views = net.views(net.theta)
        for r in rows:
            w0, b0, w1, b1, w_out = (views[k][r] for k in range(5))
            assert torch.all(w0[hidden:] == 0) and torch.all(b0[hidden:] == 0)
            assert torch.all(w_out[:, hidden:] == 0)
            assert torch.all(w1 == 0) and torch.all(b1 == 0)
