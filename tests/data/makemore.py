"""PyTorch's values for the network of makemore part 4, "becoming a backprop ninja"
(Karpathy, nn-zero-to-hero): an embedding, a linear layer, batch norm written out, tanh,
a linear layer and the cross-entropy written out, with the notebook's sizes (batch 32,
block 3, embedding 10, hidden 64, vocabulary 27), its initialisation (rounded to 4
decimals, so float32 and float64 start equal) and its forward pass line for line; every
intermediate's gradient by `retain_grad`, the 26 the notebook checks, in float64 and
float32. tests/makemore.rs reads the output, makemore.json.

    python3 -m venv .venv && .venv/bin/pip install torch numpy
    .venv/bin/python tests/data/makemore.py > tests/data/makemore.json
"""

import json

import torch

vocab_size, n_embd, block_size, n_hidden, n = 27, 10, 3, 64, 32
INTERMEDIATES = [
    "logprobs", "probs", "counts_sum_inv", "counts_sum", "counts", "norm_logits",
    "logit_maxes", "logits", "h", "hpreact", "bnraw", "bnvar_inv", "bnvar", "bndiff2",
    "bndiff", "bnmeani", "hprebn", "embcat", "emb",
]
PARAMS = ["C", "W1", "b1", "W2", "b2", "bngain", "bnbias"]


def rounded(t):
    return t.to(torch.float64).mul(1e4).round().div(1e4)


# The notebook's initialisation.
g = torch.Generator().manual_seed(2147483647)
start = {
    "C": rounded(torch.randn((vocab_size, n_embd), generator=g)),
    "W1": rounded(torch.randn((n_embd * block_size, n_hidden), generator=g) * (5 / 3) / ((n_embd * block_size) ** 0.5)),
    "b1": rounded(torch.randn(n_hidden, generator=g) * 0.1),
    "W2": rounded(torch.randn((n_hidden, vocab_size), generator=g) * 0.1),
    "b2": rounded(torch.randn(vocab_size, generator=g) * 0.1),
    "bngain": rounded(torch.randn((1, n_hidden), generator=g) * 0.1 + 1.0),
    "bnbias": rounded(torch.randn((1, n_hidden), generator=g) * 0.1),
}
Xb = torch.randint(0, vocab_size, (n, block_size), generator=g)
Yb = torch.randint(0, vocab_size, (n,), generator=g)


def run(dtype):
    p = {k: v.detach().clone().to(dtype).requires_grad_(True) for k, v in start.items()}
    C, W1, b1, W2, b2, bngain, bnbias = (p[k] for k in PARAMS)
    emb = C[Xb]
    embcat = emb.view(emb.shape[0], -1)
    hprebn = embcat @ W1 + b1
    bnmeani = 1/n*hprebn.sum(0, keepdim=True)
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = 1/(n-1)*(bndiff2).sum(0, keepdim=True)
    bnvar_inv = (bnvar + 1e-5)**-0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)
    logits = h @ W2 + b2
    logit_maxes = logits.max(1, keepdim=True).values
    norm_logits = logits - logit_maxes
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdims=True)
    counts_sum_inv = counts_sum**-1
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[range(n), Yb].mean()
    v = dict(locals())
    for name in INTERMEDIATES:
        v[name].retain_grad()
    loss.backward()
    flat = lambda a: a.detach().to(torch.float64).flatten().tolist()
    grads = {k: flat(p[k].grad) for k in PARAMS}
    grads.update({k: flat(v[k].grad) for k in INTERMEDIATES})
    return {
        "loss": loss.item(),
        "out": flat(logits),
        "shapes": {k: list(v[k].shape) for k in INTERMEDIATES},
        "grads": grads,
    }


tensors = {k: {"shape": list(v.shape), "values": v.flatten().tolist()} for k, v in start.items()}
tensors["Xb"] = {"shape": list(Xb.shape), "values": [float(i) for i in Xb.flatten().tolist()]}
tensors["Yb"] = {"shape": [n], "values": [float(i) for i in Yb.tolist()]}
cases = []
for name, dtype in (("ninja_f64", torch.float64), ("ninja_f32", torch.float32)):
    cases.append({"name": name, "model": "makemore part 4's network, as the notebook writes it", "tensors": tensors, **run(dtype)})

meta = {
    "generator": "tests/data/makemore.py",
    "torch": torch.__version__,
    "layout": "values are row-major flat lists; grads hold the parameters' and each intermediate's",
}
print(json.dumps({"meta": meta, "cases": cases}))
