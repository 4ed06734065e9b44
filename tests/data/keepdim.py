"""PyTorch's values for the network of makemore's "backprop ninja" notebook past its
embedding, written out as the notebook writes it: batch norm with reductions that keep
their axis (`sum(0, keepdim=True)`), Bessel's correction and `** -0.5`, then the
cross-entropy by hand through `max(1, keepdim=True).values`, `exp`, `** -1` and `log`;
every intermediate's gradient by `retain_grad`, in float64 and float32. tests/keepdim.rs reads the output,
keepdim.json.

    python3 -m venv .venv && .venv/bin/pip install torch numpy
    .venv/bin/python tests/data/keepdim.py > tests/data/keepdim.json
"""

import json

import torch
import torch.nn.functional as F

torch.manual_seed(16)
N, D, H, C = 8, 4, 5, 3
INTERMEDIATES = [
    "hprebn", "bnmeani", "bndiff", "bndiff2", "bnvar", "bnvar_inv", "bnraw", "hpreact", "h",
    "logits", "logit_maxes", "norm_logits", "counts", "counts_sum", "counts_sum_inv", "probs",
    "logprobs",
]
PARAMS = ["w1", "b1", "bngain", "bnbias", "w2", "b2"]


def rounded(*shape, scale=1.0):
    """Uniform in [-scale, scale), rounded to 4 decimals, so f32 and f64 start equal."""
    return ((torch.rand(*shape, dtype=torch.float64) * 2 - 1) * scale).mul(1e4).round().div(1e4)


start = {
    "x": rounded(N, D, scale=2.0),
    "w1": rounded(D, H),
    "b1": rounded(H, scale=0.1),
    "bngain": 1.0 + rounded(1, H, scale=0.1),
    "bnbias": rounded(1, H, scale=0.1),
    "w2": rounded(H, C),
    "b2": rounded(C, scale=0.1),
}
labels = torch.randint(0, C, (N,))


def run(dtype):
    t = {k: v.detach().clone().to(dtype).requires_grad_(k != "x") for k, v in start.items()}
    v = {}
    v["hprebn"] = t["x"] @ t["w1"] + t["b1"]
    v["bnmeani"] = 1 / N * v["hprebn"].sum(0, keepdim=True)
    v["bndiff"] = v["hprebn"] - v["bnmeani"]
    v["bndiff2"] = v["bndiff"] ** 2
    v["bnvar"] = 1 / (N - 1) * (v["bndiff2"]).sum(0, keepdim=True)
    v["bnvar_inv"] = (v["bnvar"] + 1e-5) ** -0.5
    v["bnraw"] = v["bndiff"] * v["bnvar_inv"]
    v["hpreact"] = t["bngain"] * v["bnraw"] + t["bnbias"]
    v["h"] = torch.tanh(v["hpreact"])
    v["logits"] = v["h"] @ t["w2"] + t["b2"]
    v["logit_maxes"] = v["logits"].max(1, keepdim=True).values
    v["norm_logits"] = v["logits"] - v["logit_maxes"]
    v["counts"] = v["norm_logits"].exp()
    v["counts_sum"] = v["counts"].sum(1, keepdims=True)
    v["counts_sum_inv"] = v["counts_sum"] ** -1
    v["probs"] = v["counts"] * v["counts_sum_inv"]
    v["logprobs"] = v["probs"].log()
    loss = -v["logprobs"][range(N), labels].mean()
    for name in INTERMEDIATES:
        v[name].retain_grad()
    loss.backward()
    flat = lambda a: a.detach().to(torch.float64).flatten().tolist()
    grads = {k: flat(t[k].grad) for k in PARAMS}
    grads.update({k: flat(v[k].grad) for k in INTERMEDIATES})
    return {
        "loss": loss.item(),
        "out": flat(v["logits"]),
        "shapes": {k: list(v[k].shape) for k in INTERMEDIATES},
        "values": {k: flat(v[k]) for k in INTERMEDIATES},
        "grads": grads,
    }


tensors = {k: {"shape": list(v.shape), "values": v.flatten().tolist()} for k, v in start.items()}
tensors["labels"] = {"shape": [N], "values": [float(l) for l in labels.tolist()]}
cases = []
for name, dtype in (("batch_norm_f64", torch.float64), ("batch_norm_f32", torch.float32)):
    cases.append({"name": name, "model": "the notebook's batch norm and cross-entropy written out", "tensors": tensors, **run(dtype)})

# var and std as PyTorch defines them: Bessel's correction by default, or as given.
t = {
    "x": rounded(6, 4),
    "a": rounded(4, 3).requires_grad_(True),
    "w": rounded(1, 3).requires_grad_(True),
    "y": rounded(6, 3),
}
t["x"].requires_grad_(True)
z = t["x"] @ t["a"]
v = z.var(0, keepdim=True)
sd = z.std(1, correction=0, keepdim=True)
u = torch.var(z, unbiased=False)
out = z * t["w"] / v + sd + u
loss = F.mse_loss(out, t["y"])
loss.backward()
flat = lambda a: a.detach().flatten().tolist()
cases.append({
    "name": "spread",
    "model": "var, std with correction, var unbiased=False over all",
    "tensors": {k: {"shape": list(x.shape), "values": flat(x)} for k, x in t.items()},
    "out": flat(out),
    "loss": loss.item(),
    "grads": {k: flat(t[k].grad) for k in ("x", "a", "w")},
})

# batch_norm (training mode, the batch's statistics) and layer_norm, as PyTorch's.
t = {
    "x": rounded(6, 4, scale=2.0),
    "a": rounded(4, 5).requires_grad_(True),
    "g1": (1.0 + rounded(5, scale=0.2)).requires_grad_(True),
    "b1": rounded(5, scale=0.2).requires_grad_(True),
    "g2": (1.0 + rounded(5, scale=0.2)).requires_grad_(True),
    "b2": rounded(5, scale=0.2).requires_grad_(True),
    "w2": rounded(5, 3).requires_grad_(True),
}
t["x"].requires_grad_(True)
labels = torch.tensor([0, 2, 1, 1, 0, 2])
t["labels"] = labels.to(torch.float64)
z = t["x"] @ t["a"]
h = torch.tanh(F.batch_norm(z, None, None, t["g1"], t["b1"], training=True, eps=1e-5))
out = F.layer_norm(h, (5,), t["g2"], t["b2"], eps=1e-3) @ t["w2"]
loss = F.cross_entropy(out, labels)
loss.backward()
cases.append({
    "name": "norms",
    "model": "batch_norm, tanh, layer_norm, a product, cross_entropy",
    "tensors": {k: {"shape": list(x.shape), "values": flat(x)} for k, x in t.items()},
    "out": flat(out),
    "loss": loss.item(),
    "grads": {k: flat(t[k].grad) for k in ("x", "a", "g1", "b1", "g2", "b2", "w2")},
})

meta = {
    "generator": "tests/data/keepdim.py",
    "torch": torch.__version__,
    "layout": "values are row-major flat lists; grads hold the parameters' and each intermediate's",
}
print(json.dumps({"meta": meta, "cases": cases}, indent=1))
