"""Writes torch-linear.safetensors, the fixture `tests/checkpoint.rs` loads, and prints
the values that test checks.

Run from anywhere with a Python that has torch, numpy and safetensors:

    python backprop-runtime/tests/data/torch-linear.py

The test never runs this script: it reads the file it wrote and compares with the numbers
printed here, pasted into the test.
"""

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn


class Net(nn.Module):
    """Two linear layers with a ReLU between: `fc2(relu(fc1(x)))`."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def rust(t):
    """A float32 tensor as a Rust array literal, each number in its shortest exact form."""
    a = t.detach().numpy().astype(np.float32)
    if a.ndim == 1:
        return "[" + ", ".join(np.format_float_positional(v, unique=True) for v in a) + "]"
    return "[" + ", ".join(rust(torch.from_numpy(row)) for row in a) + "]"


torch.manual_seed(0)
model = Net().float()
x = torch.tensor([[1.0, 2.0, 3.0], [-0.5, 0.25, 4.0], [0.0, -1.0, 0.5]], dtype=torch.float32)
with torch.no_grad():
    y = model(x)

path = Path(__file__).with_name("torch-linear.safetensors")
save_file(model.state_dict(), str(path))

print("torch", torch.__version__)
for name, t in model.state_dict().items():
    print(f"{name} {list(t.shape)} {t.dtype}: {rust(t)}")
print(f"x: {rust(x)}")
print(f"y: {rust(y)}")
