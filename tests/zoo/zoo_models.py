"""The zoo's architectures, built from code with random weights (no downloads: the GPU machine has no network), and
the re-initialisation that gives random weights a trained network's activation scales.

Each entry says what it covers, how to build it and what its inputs are. Image models take one float input
'input' [batch, 3, H, W]; text models take int64 'input_ids' and 'attention_mask' [batch, seq]. Every model returns
one float tensor 'output'.
"""
import math

# name: (what it exercises, kind, size) -- kind "image" (size = H = W) or "text" (size = sequence length).
MODELS = {
    "resnet50": ("plain residual CNN, BatchNorm folded into convs", "image", 160),
    "mobilenet_v2": ("depthwise convs, ReLU6 (Clip)", "image", 160),
    "mobilenet_v3_large": ("depthwise convs, squeeze-excitation, HardSwish/HardSigmoid", "image", 160),
    "efficientnet_b0": ("depthwise convs, squeeze-excitation, SiLU", "image", 160),
    "regnet_y_400mf": ("grouped convs with squeeze-excitation", "image", 160),
    "resnext50_32x4d": ("grouped convs (32 groups)", "image", 160),
    "shufflenet_v2_x1_0": ("channel shuffle (Reshape/Transpose), Split, Concat", "image", 160),
    "densenet121": ("concat-heavy dense blocks", "image", 160),
    "googlenet": ("inception branches joined by Concat, MaxPool", "image", 160),
    "convnext_tiny": ("LayerNorm CNN with 7x7 depthwise convs, GELU, layer scale", "image", 160),
    "lraspp_mobilenet_v3_large": ("segmentation head: bilinear Resize, SE gating", "image", 160),
    "deeplabv3_mobilenet_v3_large": ("segmentation: dilated convs, ASPP pooling branch, bilinear Resize", "image", 160),
    "unet_small": ("UNet: ConvTranspose and nearest Upsample, skip Concat, InstanceNorm", "image", 128),
    "vit_b_16": ("vision transformer (torchvision), 10x10 patches", "image", 160),
    "swin_t": ("shifted-window transformer: Roll, window partition Reshapes, LayerNorm", "image", 224),
    "mobilevit_xxs": ("hybrid conv + transformer (timm)", "image", 256),
    "bert_base": ("BERT-base encoder (transformers), 12 layers", "text", 64),
    "distilbert": ("DistilBERT encoder (transformers), 6 layers", "text", 64),
}

# Export order for the runner: the slowest to export first (measured: dynamo export of a transformer ~15-30 s).
SLOW_EXPORTS_FIRST = ["swin_t", "vit_b_16", "bert_base", "mobilevit_xxs", "convnext_tiny", "densenet121",
                      "distilbert", "efficientnet_b0", "regnet_y_400mf", "deeplabv3_mobilenet_v3_large"]

BN_PASSES = 4    # forward passes in train mode that recompute BatchNorm statistics
BN_BATCH = 8


def build(name, torch):
    """The nn.Module for `name`, in eval mode, on the CPU, with random weights from a seed fixed per name."""
    torch.manual_seed(sum(map(ord, name)) * 7919)
    if name in ("bert_base", "distilbert"):
        return _text_model(name, torch).eval()
    if name == "unet_small":
        return _unet(torch).eval()
    if name == "mobilevit_xxs":
        import timm
        return timm.create_model("mobilevit_xxs", pretrained=False).eval()
    import torchvision.models as tvm
    if name.startswith(("lraspp_", "deeplabv3_")):
        import torchvision.models.segmentation as seg
        net = getattr(seg, name)(weights=None, weights_backbone=None, num_classes=21, aux_loss=False)
        return _out_key(net, "out", torch).eval()
    kwargs = {"image_size": MODELS[name][2]} if name == "vit_b_16" else {}
    if name == "googlenet":
        kwargs = {"aux_logits": False, "init_weights": True}
    return getattr(tvm, name)(weights=None, **kwargs).eval()


def example_inputs(name, batch, torch, seed):
    """The model's inputs at `batch`, as a tuple of CPU tensors (images: standard normal; text: random ids and a
    padded attention mask, some rows shorter than others)."""
    kind, size = MODELS[name][1], MODELS[name][2]
    g = torch.Generator().manual_seed(seed)
    if kind == "image":
        return (torch.randn(batch, 3, size, size, generator=g),)
    ids = torch.randint(1, 30000, (batch, size), generator=g, dtype=torch.int64)
    mask = torch.ones(batch, size, dtype=torch.int64)
    for row in range(batch):
        mask[row, size - (row * 7) % (size // 2):] = 0  # row 0 unpadded, others lose up to half
    return (ids, mask)


def input_names(name):
    return ["input"] if MODELS[name][1] == "image" else ["input_ids", "attention_mask"]


def realistic_weights(model, name, torch, device):
    """Re-initialises what random initialisation leaves unrealistically small, then recomputes BatchNorm statistics
    with a few train-mode passes, so activations have a trained network's scale (instead of vanishing, exploding or
    passing through zeroed layers). Returns a list of what it changed, for the log."""
    changes = []
    gen = torch.Generator().manual_seed(12345)
    with torch.no_grad():
        for mod_name, mod in model.named_modules():
            for p_name, p in list(mod.named_parameters(recurse=False)):
                full = f"{mod_name}.{p_name}".strip(".")
                if p.numel() == 0:
                    continue
                is_norm = isinstance(mod, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.LayerNorm,
                                           torch.nn.GroupNorm, torch.nn.modules.instancenorm._InstanceNorm))
                if is_norm and p_name == "weight" and float(p.abs().max()) == 0:
                    p.copy_(0.5 + torch.rand(p.shape, generator=gen))  # zero-init residual gamma
                    changes.append(f"{full}: zero norm gamma -> U(0.5, 1.5)")
                elif ("layer_scale" in full or full.endswith(".gamma") or ".ls" in full) and p.dim() <= 3 \
                        and float(p.abs().max()) <= 1e-3:
                    changes.append(f"{full}: layer scale {float(p.abs().max()):.0e} -> U(0.1, 1)")
                    p.copy_(0.1 + 0.9 * torch.rand(p.shape, generator=gen))  # layer scale 1e-6 at init
                elif not p_name.endswith("bias") and not is_norm and float(p.abs().max()) == 0:
                    fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                    p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(max(fan_in, 1)))  # zero-init head
                    changes.append(f"{full}: all zero -> N(0, 1/fan_in)")
    changes += _quiet_residual_branches(model, torch, gen)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if bns:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the passes
        model.to(device).train()
        with torch.no_grad():
            for k in range(BN_PASSES):
                x = example_inputs(name, BN_BATCH, torch, seed=1000 + k)
                model(*[t.to(device) for t in x])
        model.eval()
        changes.append(f"BatchNorm statistics recomputed over {BN_PASSES} x {BN_BATCH} random inputs "
                       f"({len(bns)} layers)")
    return changes


# Blocks whose output is input + branch(input), with the branch's name inside the block when not the whole block.
_RESIDUAL_BLOCKS = {"Bottleneck": "", "BasicBlock": "", "ResBottleneckBlock": "f",
                    "InvertedResidual": "", "MBConv": "block", "FusedMBConv": "block"}
_SKIP_PATHS = ("downsample", "proj", "shortcut")
BRANCH_GAIN = (0.1, 0.3)  # U(low, high) per channel on the last norm of each residual branch


def _quiet_residual_branches(model, torch, gen):
    """Scales the last BatchNorm of every residual branch (its gamma and beta) by U(0.1, 0.3) per channel.

    Why: with every gamma at 1 each branch adds as much as the whole stream carries, and the random net becomes
    chaotic. Measured on ResNet-50 (float64, CPU): 2^-11 relative noise on the input moved the output by 2.4e-2 of
    its scale (a 50x gain), and FP16 rounding of every activation by 4.9e-2, where trained classifiers shrug both
    off. Trained residual nets keep their branches small against the skip path (what zero-init-residual training
    starts from); with this scaling the same net's input-noise gain is 1.9 and its FP16 error 1.9e-3. The zoo's
    manifest records the noise gain of every model (zoo_models.noise_gain), so a chaotic test model shows."""
    changes = []
    bn_type = torch.nn.modules.batchnorm._BatchNorm
    for block_name, block in model.named_modules():
        kind = type(block).__name__
        if kind not in _RESIDUAL_BLOCKS or not getattr(block, "use_res_connect", True):
            continue
        branch = block.get_submodule(_RESIDUAL_BLOCKS[kind]) if _RESIDUAL_BLOCKS[kind] else block
        norms = [(n, m) for n, m in branch.named_modules() if isinstance(m, bn_type) and m.affine
                 and not n.split(".")[0] in _SKIP_PATHS]
        if not norms:
            continue
        name, norm = norms[-1]
        low, high = BRANCH_GAIN
        gain = low + (high - low) * torch.rand(norm.weight.shape, generator=gen)
        with torch.no_grad():
            norm.weight.mul_(gain.to(norm.weight.device))
            norm.bias.mul_(gain.to(norm.bias.device))
        changes.append(f"{block_name}.{_RESIDUAL_BLOCKS[kind] + '.' if _RESIDUAL_BLOCKS[kind] else ''}{name}")
    if not changes:
        return []
    return [f"last norm of {len(changes)} residual branches scaled by U{BRANCH_GAIN} (first: {changes[0]})"]


NOISE = 2.0 ** -11  # FP16's unit roundoff


def noise_gain(model, inputs, reference, torch):
    """How much the model magnifies relative noise: max|f(x(1 + 2^-11 n)) - f(x)| / max|f(x)| / 2^-11, n standard
    normal on every float input. A property of the weights, not of kiln: a trained classifier stays well below 10;
    a chaotic random net is far above it and no FP16 engine (PyTorch's included) can meet a 2e-2 bound on it."""
    g = torch.Generator(device=inputs[0].device).manual_seed(99)
    noisy = [t * (1 + NOISE * torch.randn(t.shape, generator=g, device=t.device, dtype=t.dtype))
             if t.is_floating_point() else t for t in inputs]
    with torch.no_grad():
        out = model(*noisy)
    out = out.double()
    ref = reference.double()
    return float((out - ref).abs().max() / ref.abs().max()) / NOISE


def _out_key(net, key, torch):
    """Wraps a model that returns a dict (torchvision segmentation) so that it returns one tensor."""

    class OutKey(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)[key]

    return OutKey()


def _text_model(name, torch):
    import transformers as tf

    class Encoder(torch.nn.Module):
        """last_hidden_state of the encoder: [batch, seq, hidden], every position and feature a checked value."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, input_ids, attention_mask):
            return self.net(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    if name == "bert_base":
        cfg = tf.BertConfig(attn_implementation="sdpa")
        return Encoder(tf.BertModel(cfg, add_pooling_layer=False))
    cfg = tf.DistilBertConfig(attn_implementation="sdpa")
    return Encoder(tf.DistilBertModel(cfg))


def _unet(torch):
    nn = torch.nn

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.InstanceNorm2d(cout, affine=True), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.ModuleList([block(3, 32), block(32, 64), block(64, 128)])
            self.mid = block(128, 256)
            self.up3 = nn.ConvTranspose2d(256, 128, 2, stride=2)
            self.dec3 = block(256, 128)
            self.up2 = nn.Upsample(scale_factor=2, mode="nearest")
            self.dec2 = block(128 + 64, 64)
            self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.dec1 = block(64 + 32, 32)
            self.head = nn.Conv2d(32, 5, 1)

        def forward(self, x):
            skips = []
            for enc in self.enc:
                x = enc(x)
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
            x = self.mid(x)
            x = self.dec3(torch.cat([self.up3(x), skips[2]], 1))
            x = self.dec2(torch.cat([self.up2(x), skips[1]], 1))
            x = self.dec1(torch.cat([self.up1(x), skips[0]], 1))
            return self.head(x)

    return UNet()
