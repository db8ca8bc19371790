from __future__ import annotations

import pytest
import torch

from edgevla.policies.resnet import (
    FrozenBatchNorm2d,
    ResNetBackbone,
    freeze_batch_norm,
    load_torchvision_weights,
    thaw_batch_norm,
)


def test_feature_map_is_layer4_at_stride_32():
    net = ResNetBackbone("resnet18").eval()
    out = net(torch.rand(2, 3, 48, 64))
    assert list(out) == ["feature_map"]
    assert out["feature_map"].shape == (2, 512, 2, 2)
    # 50x70 rounds up at each stride-2 step: 25x35 -> 13x18 -> 13x18 -> 7x9 -> 4x5 -> 2x3
    assert net(torch.rand(1, 3, 50, 70))["feature_map"].shape == (1, 512, 2, 3)


def test_children_and_parameters_match_torchvision_trunk():
    net = ResNetBackbone("resnet18")
    names = [n for n, _ in net.named_children()]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    # Only convolutions train; frozen batch norm is all buffers.
    assert all(
        n.endswith(("conv1.weight", "conv2.weight", "downsample.0.weight"))
        for n, _ in net.named_parameters()
    )
    assert sum(p.numel() for p in net.parameters()) == 11_166_912  # resnet18 convs up to layer4
    assert len(list(net.layer1)) == 2 and net.layer1[0].downsample is None
    assert ResNetBackbone("resnet34").layer3[5] is not None


def test_frozen_batch_norm_applies_stored_statistics():
    bn = FrozenBatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
        bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
        bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    x = torch.randn(2, 3, 4, 5)
    want = (x - bn.running_mean.view(1, 3, 1, 1)) / torch.sqrt(
        bn.running_var.view(1, 3, 1, 1) + 1e-5
    )
    want = want * bn.weight.view(1, 3, 1, 1) + bn.bias.view(1, 3, 1, 1)
    torch.testing.assert_close(bn(x), want)
    bn.train()
    torch.testing.assert_close(bn(x), want)  # training mode changes nothing
    assert [n for n, _ in bn.named_buffers()] == ["weight", "bias", "running_mean", "running_var"]


def test_loads_torchvision_weights_dropping_classifier_and_counters():
    src = ResNetBackbone("resnet18")
    weights = {k: torch.randn_like(v) for k, v in src.state_dict().items()}
    weights["fc.weight"] = torch.zeros(1000, 512)
    weights["fc.bias"] = torch.zeros(1000)
    weights["bn1.num_batches_tracked"] = torch.tensor(7)
    dst = ResNetBackbone("resnet18")
    load_torchvision_weights(dst, weights)
    torch.testing.assert_close(dst.layer3[1].bn2.running_var, weights["layer3.1.bn2.running_var"])
    weights["layer2.0.conv1.weight"] = torch.zeros(1, 1, 3, 3)
    with pytest.raises(ValueError, match=r"layer2\.0\.conv1\.weight has shape \(1, 1, 3, 3\)"):
        load_torchvision_weights(dst, weights)


def test_unsupported_backbone_options_are_errors():
    with pytest.raises(ValueError, match="resnet50"):
        ResNetBackbone("resnet50")
    with pytest.raises(ValueError, match="replace_final_stride_with_dilation"):
        ResNetBackbone("resnet18", replace_final_stride_with_dilation=True)


def test_thawed_batch_norm_trains_and_freezes_back_to_the_same_function():
    torch.manual_seed(0)
    net = ResNetBackbone("resnet18")
    keys = set(net.state_dict())
    assert thaw_batch_norm(net) == 20  # stem + 2 per block x 8 + 3 downsamples
    assert set(net.state_dict()) == keys  # no batch counters
    assert any(n.endswith("bn1.weight") for n, _ in net.named_parameters())
    x = torch.rand(6, 3, 64, 64)
    net.train()
    before = net.bn1.running_mean.clone()
    net(x)["feature_map"].mean().backward()
    assert not torch.equal(net.bn1.running_mean, before)  # statistics were gathered
    assert net.bn1.weight.grad is not None  # and the affine terms get gradients
    net.eval()
    with torch.no_grad():
        expected = net(x)["feature_map"]
    assert freeze_batch_norm(net) == 20
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    with torch.no_grad():
        torch.testing.assert_close(net(x)["feature_map"], expected, rtol=1e-4, atol=1e-5)


def test_act_trains_batch_norm_on_all_cameras_at_once(tiny_config, random_stats, random_policy):
    policy = random_policy(tiny_config(), random_stats())
    thaw_batch_norm(policy)
    model = policy.model.train()
    images = [torch.rand(2, 3, *f.shape[1:]) for f in model.config.image_features.values()]
    model.backbone.bn1.momentum = 1.0  # running stats := the last batch's statistics
    model._image_features(images)
    stem = model.backbone.bn1
    pooled = stem.running_mean.clone()
    model._image_features(images[:1])  # one camera alone has other statistics
    assert not torch.allclose(stem.running_mean, pooled)
    with torch.no_grad():  # the pooled statistics are those of every camera's images together
        conv = model.backbone.conv1(torch.cat(images))
    torch.testing.assert_close(pooled, conv.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)
