"""Training state saved by one optimizer implementation resumes in ours, values unchanged."""

from __future__ import annotations

import json

import torch

from edgevla.policies.training.state import (
    OPTIMIZER_GROUPS,
    load_training_state,
    save_training_state,
)


def _stepped_optimizer(**kwargs) -> tuple[torch.nn.Linear, torch.optim.AdamW]:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, **kwargs)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(5, 4)).square().sum().backward()
        opt.step()
    return model, opt


def test_resume_keeps_this_optimizers_implementation_and_the_saved_moments(tmp_path):
    # A CUDA run (LeRobot's) saves foreach=True; the resuming CPU trainer steps fused.
    _, saved = _stepped_optimizer(foreach=True)
    save_training_state(tmp_path, 3, saved, None, torch.Generator())
    groups = json.loads((tmp_path / OPTIMIZER_GROUPS).read_text())
    assert groups[0]["foreach"] is True

    model = torch.nn.Linear(4, 3)
    resumed = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    step = load_training_state(tmp_path, resumed, None, torch.Generator())

    assert step == 3
    assert resumed.param_groups[0]["fused"] is True
    assert resumed.param_groups[0]["foreach"] is None
    for a, b in zip(saved.state.values(), resumed.state.values(), strict=True):
        for name in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
    model(torch.randn(5, 4)).square().sum().backward()
    resumed.step()  # the fused kernel accepts the loaded state
    assert float(resumed.state[model.weight]["step"]) == 4.0
