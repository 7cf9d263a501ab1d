"""The benchmark models and their ONNX export. torch is imported inside the functions so that
run_bench.py --selftest works on a machine without it."""

# name -> (input [C, H, W], output width, what it is)
MODELS = {
    "resnet50": ((3, 224, 224), 1000, "torchvision resnet50, [B,3,224,224] -> [B,1000]"),
    "reid": ((3, 256, 144), 128, "the seed's ReID model: resnet50 trunk + global pool + Linear 2048->128, "
                                 "[B,3,256,144] -> [B,128]"),
    # Not in the default set: models whose convs end in Clip (ReLU6), HardSwish and HardSigmoid.
    "mobilenet_v2": ((3, 224, 224), 1000, "torchvision mobilenet_v2 (ReLU6 as Clip 0..6), [B,3,224,224] -> [B,1000]"),
    "mobilenet_v3": ((3, 224, 224), 1000, "torchvision mobilenet_v3_large (HardSwish, HardSigmoid), "
                                          "[B,3,224,224] -> [B,1000]"),
}


def _randomize_batchnorm(model, generator):
    """Random-init torchvision BatchNorms are identities (mean 0, var 1, weight 1, bias 0); give them non-trivial
    statistics so the engine's BatchNorm folding is actually exercised by the accuracy check. The spread is small
    enough to keep activations in FP16 range."""
    import torch
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            m.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            m.weight.data.copy_(0.5 + torch.rand(n, generator=generator))
            m.bias.data.copy_(0.1 * torch.randn(n, generator=generator))


def make_model(name, seed):
    """The model in eval mode on the CPU, FP32, with weights that depend only on `seed`."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed + 1)
    if name == "resnet50":
        model = torchvision.models.resnet50(weights=None)
    elif name == "reid":
        trunk = torchvision.models.resnet50(weights=None)
        trunk.fc = torch.nn.Identity()  # torchvision's forward still pools globally and flattens: [B, 2048]
        model = torch.nn.Sequential(trunk, torch.nn.Linear(2048, 128))
    elif name == "mobilenet_v2":
        model = torchvision.models.mobilenet_v2(weights=None)
    elif name == "mobilenet_v3":
        model = torchvision.models.mobilenet_v3_large(weights=None)
    else:
        raise ValueError(f"unknown model '{name}' (known: {', '.join(MODELS)})")
    with torch.no_grad():
        _randomize_batchnorm(model, generator)
    return model.eval()


def export_onnx(model, name, path, opset=17):
    """TorchScript exporter (dynamo=False), dynamic batch axis 'batch_size', as the seed does it."""
    import torch

    chw = MODELS[name][0]
    dummy = torch.randn(1, *chw)
    with torch.no_grad():
        torch.onnx.export(model, (dummy,), path, opset_version=opset, dynamo=False,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch_size"}, "output": {0: "batch_size"}},
                          do_constant_folding=True)
    return path
