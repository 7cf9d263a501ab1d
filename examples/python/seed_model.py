"""The model the seed scripts export ("TorchModel"), and step 1 of seed 000: torch -> ONNX with a dynamic batch.

A ReID-style embedding CNN like examples/seed_cnn.onnx: [B,3,256,144] -> [B,128]. Imported only where torch is;
the torch-free examples use examples/seed_cnn.onnx instead.
"""
import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class TorchModel(nn.Module):
    def __init__(self, width=32, embedding=128):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = BasicBlock(width, width, 1)
        self.layer2 = BasicBlock(width, 2 * width, 2)
        self.layer3 = BasicBlock(2 * width, 4 * width, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, embedding)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.avgpool(x)
        return self.fc(x.view(x.size(0), -1))


def make_model(device, seed=0):
    """TorchModel with random weights and non-trivial BatchNorm statistics, in eval mode. The reference is strict
    FP32: PyTorch lets cuDNN convolutions use TF32 by default, whose 10-bit mantissa is an error of FP16's size, and
    its algorithm (so the error) changes with the batch."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(seed)
    model = TorchModel()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return model.eval().to(device)


def export_onnx(model, onnx_path, device, input_shape=(1, 3, 256, 144)):
    """Seed 000 step 1: torch.onnx.export with a dynamic batch axis, opset 17."""
    dummy_input = torch.ones(input_shape, dtype=torch.float32, device=device)
    with torch.no_grad():
        torch.onnx.export(model, dummy_input, onnx_path, export_params=True, opset_version=17,
                          do_constant_folding=True, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch_size"}, "output": {0: "batch_size"}}, dynamo=False)
    return onnx_path
