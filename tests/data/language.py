"""PyTorch's float64 values for models written as public examples write them: an
all-scalar expression (micrograd's README), a 2-2-2 sigmoid network unit by unit with two
outputs (the step-by-step backpropagation example's numbers), a spiral-data softmax
classifier with L2 regularisation (CS231n's case study), an MLP with an L2 penalty on
`mse`, the tutorial's cubic fit of sin(x), and the sum of squared errors (`sse`, PyTorch's
`reduction="sum"`) bare and halved, and `nll_loss` of `log_softmax` with a penalty. tests/language.rs reads the output, language.json.

    python3 -m venv .venv && .venv/bin/pip install torch numpy
    .venv/bin/python tests/data/language.py > tests/data/language.json
"""

import json
import math

import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(0)
D = torch.float64


def rounded(*shape, scale=1.0):
    """A tensor of uniform values in [-scale, scale), rounded to 4 decimals."""
    return ((torch.rand(*shape, dtype=D) * 2 - 1) * scale).mul(1e4).round().div(1e4)


def case(name, model, tensors, loss, outputs, grads_of):
    """One case: `tensors` by name (those in `grads_of` require grad), the loss, the
    outputs (a list) and the gradient of the loss with respect to each of `grads_of`."""
    loss.backward()
    return {
        "name": name,
        "model": model,
        "tensors": {
            k: {"shape": list(v.shape), "values": v.detach().flatten().tolist()} for k, v in tensors.items()
        },
        "outputs": [o.detach().flatten().tolist() for o in outputs],
        "out": outputs[0].detach().flatten().tolist(),
        "loss": loss.item(),
        "grads": {k: tensors[k].grad.flatten().tolist() for k in grads_of},
    }


def leaves(values):
    return {k: torch.tensor(v, dtype=D, requires_grad=True) for k, v in values.items()}


cases = []

# micrograd's README, as written there with its Value class.
t = leaves({"a": -4.0, "b": 2.0})
a, b = t["a"], t["b"]
c = a + b
d = a * b + b**3
c = c + c + 1
c = c + 1 + c + (-a)
d = d + d * 2 + (b + a).relu()
d = d + 3 * d + (b - a).relu()
e = c - d
f = e**2
g = f / 2.0
g = g + 10.0 / f
cases.append(case("micrograd", "all-scalar expression; loss out", t, g, [g], ["a", "b"]))

# The step-by-step example: inputs 0.05 and 0.10, targets 0.01 and 0.99, biases shared by
# each layer's two units.
t = leaves(
    {
        "i1": 0.05, "i2": 0.10, "t1": 0.01, "t2": 0.99,
        "w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30, "b1": 0.35,
        "w5": 0.40, "w6": 0.45, "w7": 0.50, "w8": 0.55, "b2": 0.60,
    }
)
h1 = torch.sigmoid(t["w1"] * t["i1"] + t["w2"] * t["i2"] + t["b1"])
h2 = torch.sigmoid(t["w3"] * t["i1"] + t["w4"] * t["i2"] + t["b1"])
o1 = torch.sigmoid(t["w5"] * h1 + t["w6"] * h2 + t["b2"])
o2 = torch.sigmoid(t["w7"] * h1 + t["w8"] * h2 + t["b2"])
loss = 0.5 * (t["t1"] - o1) ** 2 + 0.5 * (t["t2"] - o2) ** 2
params = ["w1", "w2", "b1", "w3", "w4", "w5", "w6", "b2", "w7", "w8", "i1", "i2"]
cases.append(case("units", "2-2-2 sigmoid network unit by unit", t, loss, [o1, o2], params))

# CS231n's spiral data, 3 classes of 10 points, and its two-layer net with L2 on weights.
rng = np.random.default_rng(0)
N, K, H = 10, 3, 8
xs, labels = [], []
for j in range(K):
    r = np.linspace(0.0, 1, N)
    th = np.linspace(j * 4, (j + 1) * 4, N) + rng.standard_normal(N) * 0.2
    xs.append(np.c_[r * np.sin(th), r * np.cos(th)])
    labels += [j] * N
x = torch.tensor(np.round(np.concatenate(xs), 4), dtype=D, requires_grad=True)
y = torch.tensor(labels, dtype=D)
t = {
    "x": x,
    "labels": y,
    "w1": (rounded(2, H, scale=1.0)).requires_grad_(True),
    "b1": torch.zeros(H, dtype=D, requires_grad=True),
    "w2": (rounded(H, K, scale=1.0)).requires_grad_(True),
    "b2": torch.zeros(K, dtype=D, requires_grad=True),
}
reg = 1e-3
scores = F.relu(t["x"] @ t["w1"] + t["b1"]) @ t["w2"] + t["b2"]
loss = (
    F.cross_entropy(scores, y.long())
    + 0.5 * reg * (t["w1"] * t["w1"]).sum()
    + 0.5 * reg * (t["w2"] * t["w2"]).sum()
)
cases.append(case("spiral", "softmax classifier with L2", t, loss, [scores], ["w1", "b1", "w2", "b2", "x"]))

# An MLP whose mse carries an L2 penalty on its first weight.
t = {
    "x": rounded(5, 3).requires_grad_(True),
    "y": rounded(5, 2),
    "w1": rounded(3, 4).requires_grad_(True),
    "b1": rounded(4).requires_grad_(True),
    "w2": rounded(4, 2).requires_grad_(True),
    "b2": rounded(2).requires_grad_(True),
}
out = F.relu(t["x"] @ t["w1"] + t["b1"]) @ t["w2"] + t["b2"]
loss = F.mse_loss(out, t["y"]) + 0.01 * (t["w1"] * t["w1"]).sum()
cases.append(case("mse_l2", "mse with an L2 penalty", t, loss, [out], ["w1", "b1", "w2", "b2", "x"]))

# The tutorial's cubic fit of sin(x) on [-pi, pi], coefficients from randn.
x = torch.linspace(-math.pi, math.pi, 20, dtype=D)
t = {"x": x, "y": torch.sin(x)}
for k in "abcd":
    t[k] = torch.randn((), dtype=D).mul(1e4).round().div(1e4).requires_grad_(True)
y_pred = t["a"] + t["b"] * x + t["c"] * x**2 + t["d"] * x**3
loss = (y_pred - t["y"]).pow(2).sum()
cases.append(case("cubic", "the cubic fit", t, loss, [y_pred], ["a", "b", "c", "d"]))

# The sum of squared errors, and the forum's half of it.
for name, half in (("sse", 1.0), ("half_sse", 0.5)):
    t = {
        "x": rounded(4, 3).requires_grad_(True),
        "y": rounded(4, 2),
        "w": rounded(3, 2).requires_grad_(True),
        "b": rounded(2).requires_grad_(True),
    }
    out = t["x"] @ t["w"] + t["b"]
    loss = half * F.mse_loss(out, t["y"], reduction="sum")
    cases.append(case(name, f"{half} * mse_loss(reduction='sum')", t, loss, [out], ["w", "b", "x"]))

# nll_loss of log_softmax, as PyTorch classifiers write it, with an L2 penalty.
t = {
    "x": rounded(5, 3).requires_grad_(True),
    "w": rounded(3, 4).requires_grad_(True),
    "b": rounded(4).requires_grad_(True),
}
labels = torch.tensor([0, 3, 1, 3, 2])
t["labels"] = labels.to(D)
log_p = F.log_softmax(t["x"] @ t["w"] + t["b"], dim=1)
loss = F.nll_loss(log_p, labels) + 0.01 * (t["w"] * t["w"]).sum()
cases.append(case("nll", "nll_loss(log_softmax) with an L2 penalty", t, loss, [log_p], ["w", "b", "x"]))

meta = {
    "generator": "tests/data/language.py",
    "torch": torch.__version__,
    "dtype": "float64",
    "layout": "values are row-major flat lists; a scalar has shape []; outputs in order",
}
print(json.dumps({"meta": meta, "cases": cases}, indent=1))
