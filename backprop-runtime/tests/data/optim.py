"""Expected values for backprop-runtime/tests/optim.rs.

Runs torch.optim (SGD, Adam, AdamW; single-tensor path, foreach=False) in float64 on
the tiny least-squares model that the Rust test implements by hand, and prints the
parameters after each of 5 steps as Rust constants, to 17 significant digits (`repr`,
the shortest decimal that reads back as the same float64).
The test embeds this output verbatim as its last section; it never runs this script.

    python backprop-runtime/tests/data/optim.py > /tmp/optim_expected.rs

Model: w [2, 3], b [3]; loss 0.5 * ||x @ w + b - y||^2 / n over the fixed x [4, 2],
y [4, 3] below. Each row of a constant is one step: w row-major, then b.

The `*_FIXED` constants instead feed fixed gradients (GRADS), so that they depend on the
optimizer's arithmetic alone, and `*_FIXED_STATE` holds Adam's buffers after each of
those steps. All is computed with PyTorch's portable CPU kernels
(ATEN_CPU_CAPABILITY=default, set below before torch is imported): the AVX2/AVX-512
kernels fuse `a + b * c` into one rounding, which the portable ones and the Rust code do
not. With the portable kernels, SGD's parameters and Adam's buffers agree with the Rust
code bit for bit; Adam's parameters to an ulp or so, since PyTorch's `sqrt` on tensors
is not always correctly rounded.
"""

import os

os.environ["ATEN_CPU_CAPABILITY"] = "default"

import numpy  # noqa: E402
import torch  # noqa: E402

X = [[0.5, -1.25], [1.5, 0.75], [-0.25, 2.0], [1.0, 1.0]]
Y = [[1.0, -0.5, 0.25], [0.75, 2.0, -1.5], [-1.0, 0.5, 1.25], [0.3, -0.7, 0.9]]
W0 = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]
B0 = [0.05, -0.15, 0.25]
STEPS = 5


def run(make, dtype=torch.float64, lr_at=None):
    x = torch.tensor(X, dtype=dtype)
    y = torch.tensor(Y, dtype=dtype)
    w = torch.tensor(W0, dtype=dtype, requires_grad=True)
    b = torch.tensor(B0, dtype=dtype, requires_grad=True)
    opt = make([w, b])
    rows = []
    for step in range(STEPS):
        if lr_at is not None and step in lr_at:
            for group in opt.param_groups:
                group["lr"] = lr_at[step]
        opt.zero_grad()
        r = x @ w + b - y
        loss = 0.5 * (r * r).sum() / x.shape[0]
        loss.backward()
        opt.step()
        rows.append([v.item() for v in torch.cat([w.detach().flatten(), b.detach()])])
    return rows


def sgd(**kw):
    return lambda p: torch.optim.SGD(p, foreach=False, **kw)


def adam(**kw):
    return lambda p: torch.optim.Adam(p, foreach=False, **kw)


def adamw(**kw):
    return lambda p: torch.optim.AdamW(p, foreach=False, **kw)


CASES = [
    ("SGD_PLAIN", "SGD(lr=0.1)", sgd(lr=0.1), {}),
    ("SGD_MOMENTUM", "SGD(lr=0.1, momentum=0.9)", sgd(lr=0.1, momentum=0.9), {}),
    (
        "SGD_DAMPENING",
        "SGD(lr=0.1, momentum=0.9, dampening=0.1)",
        sgd(lr=0.1, momentum=0.9, dampening=0.1),
        {},
    ),
    (
        "SGD_NESTEROV",
        "SGD(lr=0.1, momentum=0.9, nesterov=True)",
        sgd(lr=0.1, momentum=0.9, nesterov=True),
        {},
    ),
    ("SGD_WEIGHT_DECAY", "SGD(lr=0.1, weight_decay=0.1)", sgd(lr=0.1, weight_decay=0.1), {}),
    (
        "SGD_ALL",
        "SGD(lr=0.1, momentum=0.8, weight_decay=0.05, nesterov=True)",
        sgd(lr=0.1, momentum=0.8, weight_decay=0.05, nesterov=True),
        {},
    ),
    ("ADAM", "Adam(lr=0.1)", adam(lr=0.1), {}),
    ("ADAM_WEIGHT_DECAY", "Adam(lr=0.1, weight_decay=0.1)", adam(lr=0.1, weight_decay=0.1), {}),
    (
        "ADAM_AMSGRAD",
        "Adam(lr=0.1, betas=(0.9, 0.5), amsgrad=True)",
        adam(lr=0.1, betas=(0.9, 0.5), amsgrad=True),
        {},
    ),
    (
        "ADAM_LARGE_LERP_WEIGHT",
        "Adam(lr=0.1, betas=(0.3, 0.99))  # lerp weight 0.7 >= 0.5",
        adam(lr=0.1, betas=(0.3, 0.99)),
        {},
    ),
    (
        "ADAM_LR_SCHEDULE",
        "Adam(lr=0.1); lr = 0.03 from the third step on",
        adam(lr=0.1),
        {2: 0.03},
    ),
    ("ADAMW", "AdamW(lr=0.1)  # weight_decay 1e-2", adamw(lr=0.1), {}),
    (
        "ADAMW_AMSGRAD",
        "AdamW(lr=0.1, betas=(0.9, 0.5), eps=1e-3, weight_decay=0.1, amsgrad=True)",
        adamw(lr=0.1, betas=(0.9, 0.5), eps=1e-3, weight_decay=0.1, amsgrad=True),
        {},
    ),
]


def emit(name, doc, rows, ty="f64"):
    # The shortest decimal that reads back as the same number of the type: `repr` for
    # float64, numpy's float32 `str` for float32.
    fmt = repr if ty == "f64" else (lambda v: str(numpy.float32(v)))
    print(f"/// torch.optim.{doc}")
    print("#[rustfmt::skip]")
    print(f"const {name}: [[{ty}; 9]; {STEPS}] = [")
    for row in rows:
        print("    [" + ", ".join(fmt(v) for v in row) + "],")
    print("];")


# Fixed gradients: w row-major, then b, for each step.
GRADS = torch.randn(STEPS, 9, generator=torch.Generator().manual_seed(7), dtype=torch.float64)

FIXED = [
    (
        "SGD_FIXED_DAMPENING",
        "SGD(lr=0.1, momentum=0.8, dampening=0.1, weight_decay=0.05), fixed gradients",
        sgd(lr=0.1, momentum=0.8, dampening=0.1, weight_decay=0.05),
    ),
    (
        "SGD_FIXED_NESTEROV",
        "SGD(lr=0.1, momentum=0.9, weight_decay=0.05, nesterov=True), fixed gradients",
        sgd(lr=0.1, momentum=0.9, weight_decay=0.05, nesterov=True),
    ),
    ("ADAM_FIXED", "Adam(lr=0.1), fixed gradients", adam(lr=0.1)),
    (
        "ADAMW_FIXED",
        "AdamW(lr=0.1, betas=(0.3, 0.5), weight_decay=0.1, amsgrad=True), fixed gradients",
        adamw(lr=0.1, betas=(0.3, 0.5), weight_decay=0.1, amsgrad=True),
    ),
]

# Adam's state buffers, printed after each step of the fixed-gradient runs.
BUFFERS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def run_fixed(make):
    w = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(B0, dtype=torch.float64, requires_grad=True)
    opt = make([w, b])
    rows, states = [], []
    for g in GRADS:
        w.grad = g[:6].reshape(2, 3).clone()
        b.grad = g[6:].clone()
        opt.step()
        rows.append([v.item() for v in torch.cat([w.detach().flatten(), b.detach()])])
        state = [
            [v.item() for v in torch.cat([opt.state[w][k].flatten(), opt.state[b][k]])]
            for k in BUFFERS
            if k in opt.state[w]
        ]
        states.append(state)
    return rows, states


if __name__ == "__main__":
    print(f"// torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    for name, doc, make, lr_at in CASES:
        emit(name, doc, run(make, lr_at=lr_at or None))
    emit("ADAM_F32", "Adam(lr=0.1) in float32", run(adam(lr=0.1), dtype=torch.float32), "f32")
    print("/// The fixed gradients: w row-major, then b, for each step.")
    print("#[rustfmt::skip]")
    print(f"const GRADS: [[f64; 9]; {STEPS}] = [")
    for row in GRADS.tolist():
        print("    [" + ", ".join(repr(v) for v in row) + "],")
    print("];")
    for name, doc, make in FIXED:
        rows, states = run_fixed(make)
        emit(name, doc, rows)
        if states[0]:
            k = len(states[0])
            print(f"/// {', '.join(BUFFERS[:k])} after each step of {name}: w row-major, then b.")
            print("#[rustfmt::skip]")
            print(f"const {name}_STATE: [[[f64; 9]; {k}]; {STEPS}] = [")
            for state in states:
                print("    [")
                for row in state:
                    print("        [" + ", ".join(repr(v) for v in row) + "],")
                print("    ],")
            print("];")
