"""Trains the small CNN of the INT8 accuracy test on scikit-learn's handwritten digits (8x8, 1797 images) and writes
what tests/python/test_int8_digits.py reads (committed, ~0.4 MB in all):

  digits_cnn.onnx          [N,1,8,8] float32 (pixels / 16) -> [N,10] logits; dynamic batch
  digits_calib.npy         200 held-out images for INT8 calibration           [200,1,8,8] float32
  digits_test.npy          the other 597 held-out images, to measure top-1     [597,1,8,8] float32
  digits_test_labels.npy   their labels                                        [597] int64

The 1000 training images are never in the held-out files. Needs torch, scikit-learn and onnx (e.g. /tmp/zoo-venv
with `pip install scikit-learn`); deterministic (fixed seeds, one thread).

  python tests/models/digits_make.py [--out tests/models]
"""
import argparse
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits

TRAIN = 1000
CALIB = 200


class DigitsCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = torch.nn.Linear(32 * 4 * 4, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def to_onnx(model: DigitsCnn) -> onnx.ModelProto:
    """The same network written with onnx.helper (no exporter: the graph is exactly these nodes)."""
    w = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    inits = [numpy_helper.from_array(w[k], k) for k in sorted(w)]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("MaxPool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["g1"], name="fc1", transB=1),
        helper.make_node("Relu", ["g1"], ["r3"], name="relu3"),
        helper.make_node("Gemm", ["r3", "fc2.weight", "fc2.bias"], ["logits"], name="fc2", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="kiln digits_make.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    xtr, ytr = torch.from_numpy(x[:TRAIN]), torch.from_numpy(y[:TRAIN])

    model = DigitsCnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(40):
        perm = torch.randperm(TRAIN)
        for k in range(0, TRAIN, 50):
            idx = perm[k:k + 50]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        held = model(torch.from_numpy(x[TRAIN:])).argmax(1).numpy()
    print(f"held-out top-1 (torch): {100.0 * (held == y[TRAIN:]).mean():.2f}% on {len(held)} images")

    onnx.save(to_onnx(model), os.path.join(args.out, "digits_cnn.onnx"))
    np.save(os.path.join(args.out, "digits_calib.npy"), x[TRAIN:TRAIN + CALIB])
    np.save(os.path.join(args.out, "digits_test.npy"), x[TRAIN + CALIB:])
    np.save(os.path.join(args.out, "digits_test_labels.npy"), y[TRAIN + CALIB:])


if __name__ == "__main__":
    main()
