"""PyTorch's values for the activations silu, gelu (both forms), elu and log_sigmoid, in
float64, on a small two-layer network each: the output, the loss and the gradient of the
loss with respect to every parameter and the input. tests/activations.rs reads the output,
activations.json.

    python3 -m venv .venv && .venv/bin/pip install torch numpy
    .venv/bin/python tests/data/activations.py > tests/data/activations.json
"""

import json

import torch
import torch.nn.functional as F

torch.manual_seed(0)


def rounded(*shape):
    """A tensor of uniform values in [-1, 1), rounded to 4 decimals, exact as written."""
    return (torch.rand(*shape, dtype=torch.float64) * 2 - 1).mul(1e4).round().div(1e4)


# name -> (the model as `model!` writes it, the same in PyTorch)
CASES = {
    "silu": ("silu(x @ w1 + b1) @ w2 + b2; loss mse", lambda t: F.silu(t["x"] @ t["w1"] + t["b1"]) @ t["w2"] + t["b2"]),
    "gelu": ("gelu(x @ w1 + b1) @ w2 + b2; loss mse", lambda t: F.gelu(t["x"] @ t["w1"] + t["b1"]) @ t["w2"] + t["b2"]),
    "gelu_tanh": (
        "gelu_tanh(x @ w1 + b1) @ w2 + b2; loss mse",
        lambda t: F.gelu(t["x"] @ t["w1"] + t["b1"], approximate="tanh") @ t["w2"] + t["b2"],
    ),
    "elu": ("elu(x @ w1 + b1, 0.7) @ w2 + b2; loss mse", lambda t: F.elu(t["x"] @ t["w1"] + t["b1"], 0.7) @ t["w2"] + t["b2"]),
    "elu_default": ("elu(x @ w1 + b1) @ w2 + b2; loss mse", lambda t: F.elu(t["x"] @ t["w1"] + t["b1"]) @ t["w2"] + t["b2"]),
    "log_sigmoid": (
        "log_sigmoid(x @ w1 + b1) @ w2 + b2; loss mse",
        lambda t: F.logsigmoid(t["x"] @ t["w1"] + t["b1"]) @ t["w2"] + t["b2"],
    ),
}

cases = []
for name, (source, forward) in CASES.items():
    tensors = {
        "x": rounded(4, 3),
        "w1": rounded(3, 5) * 2,
        "b1": rounded(5),
        "w2": rounded(5, 2),
        "b2": rounded(2),
        "y": rounded(4, 2),
    }
    for k in ("x", "w1", "b1", "w2", "b2"):
        tensors[k].requires_grad_(True)
    out = forward(tensors)
    loss = F.mse_loss(out, tensors["y"])
    loss.backward()
    cases.append(
        {
            "name": name,
            "model": source,
            "tensors": {k: {"shape": list(v.shape), "values": v.detach().flatten().tolist()} for k, v in tensors.items()},
            "out": out.detach().flatten().tolist(),
            "loss": loss.item(),
            "grads": {k: v.grad.flatten().tolist() for k, v in tensors.items() if v.grad is not None},
        }
    )

meta = {
    "generator": "tests/data/activations.py",
    "torch": torch.__version__,
    "dtype": "float64",
    "layout": "values are row-major flat lists; grads for every parameter and the input",
}
print(json.dumps({"meta": meta, "cases": cases}, indent=1))
