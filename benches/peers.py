#!/usr/bin/env python3
"""The training steps of `benches/step.rs`, in PyTorch (eager and torch.compile), JAX (jit) and
NumPy (backprop written by hand), timed in the same run as ours, and our time as a ratio to each.

    python3 -m venv .venv && .venv/bin/pip install numpy torch "jax[cpu]" matplotlib  # once
    .venv/bin/python benches/peers.py --threads 2                             # ~5 min
    .venv/bin/python benches/peers.py --works W3,W3b --impls eager,jax --passes 1
    .venv/bin/python benches/peers.py --sweep --threads 2                     # ~11 min

`--sweep` times W3's step over batch sizes (1 to 50,000 rows at width 50) and hidden widths
(16 to 1,024 at 1,024 rows), the points `cargo bench --bench step -- --sweep` times, in us,
PyTorch eager, JAX and NumPy; it prints a table and writes `benches/scaling.json` and the
log-log plot `benches/scaling.svg`.

The limit is the fastest large square product in the same run: a 4096^3 float32 `sgemm`
through NumPy's OpenBLAS (in its own process, at the thread count) and through the Rust
crate (`benches/step.rs` measures it). Each workload's limit time is its products'
floating-point operations at that rate, and `ours / limit` our step's time over it.

Each (impl, workload) cell runs in its own process with the thread count set before the
library loads; `cargo bench --bench step -- --json` runs once per pass, between the cells,
so that a slow spell of a shared machine hits one pass rather than one column. The table
shows, per cell, the median over passes of each pass's median.

Workloads (float32), as benches/step.rs defines them:
  W1  1-1-1 sigmoid, x=0.8, MSE vs 1, lr 0.1
  W2  bias-free Linear 3->4->2->1 ([out,in]), sigmoid, BCE, batch 4, lr 0.1
  W3  relu(x@w1+b1)@w2+b2, mean((out[:,0]-y)^2), x [50000,784] U[0,1), lr 1e-5; W3b: 256 rows
  W4  bias-free Linear 784->512->264->128->1, batch 20, 0.5*SSE, lr 1e-3
"""
import argparse, json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUGUES = {
    "fc1": [[0.2369, 0.4875, -0.0785], [-0.1420, 0.5180, -0.4875], [-0.0190, -0.2783, 0.3500], [0.2950, -0.3992, 0.5065]],
    "fc2": [[-0.0172, -0.1255, 0.3816, 0.4249], [-0.0027, -0.1248, 0.4886, 0.1373]],
    "fc3": [[-0.2785, 0.4220]],
}


def sweep_point(work):
    """(rows, hidden) of a sweep point "S:rows:hidden", or None for a named workload."""
    if not work.startswith("S:"):
        return None
    rows, hidden = work[2:].split(":")
    return int(rows), int(hidden)


def make_data(work, np):
    f = np.float32
    point = sweep_point(work)
    if work == "W1":
        p = {"w_l1": [[1.58]], "b_l1": [-0.14], "w_l2": [[2.45]], "b_l2": [-0.11]}
        return {k: np.array(v, f) for k, v in p.items()}, {"x": np.array([[0.8]], f), "y": np.array([[1.0]], f)}, 0.1
    if work == "W2":
        x, y = [[1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6]], [[1], [0], [1], [0]]
        return {k: np.array(v, f) for k, v in NUGUES.items()}, {"x": np.array(x, f), "y": np.array(y, f)}, 0.1
    if work in ("W3", "W3b") or point:
        rng = np.random.default_rng(0)
        rows, hidden = point or (50000 if work == "W3" else 256, 50)
        x = rng.random((rows, 784), dtype=f)
        y = rng.integers(0, 10, rows).astype(f)
        p = {"w1": rng.standard_normal((784, hidden), dtype=f), "b1": np.zeros(hidden, f),
             "w2": rng.standard_normal((hidden, 1), dtype=f) * f(0.1), "b2": np.zeros(1, f)}
        return p, {"x": x, "y": y}, 1e-5
    if work == "W4":
        rng = np.random.default_rng(0)
        dims = [784, 512, 264, 128, 1]
        p = {f"w{i+1}": rng.uniform(-1, 1, (o, i_)).astype(f) / f(np.sqrt(i_)) for i, (i_, o) in enumerate(zip(dims, dims[1:]))}
        return p, {"x": rng.random((20, 784), dtype=f), "y": rng.random((20, 1), dtype=f)}, 1e-3
    raise ValueError(work)


def loss_fn(work, xp, sig, relu):
    work = "W3" if sweep_point(work) else work
    def w1(P, I):
        h = sig(I["x"] @ P["w_l1"].T + P["b_l1"])
        return ((sig(h @ P["w_l2"].T + P["b_l2"]) - I["y"]) ** 2).mean()
    def w2(P, I):
        p = sig(I["x"] @ P["fc1"].T @ P["fc2"].T @ P["fc3"].T)
        return -(I["y"] * xp.log(p) + (1 - I["y"]) * xp.log(1 - p)).mean()
    def w3(P, I):
        out = relu(I["x"] @ P["w1"] + P["b1"]) @ P["w2"] + P["b2"]
        return ((out[:, 0] - I["y"]) ** 2).mean()
    def w4(P, I):
        out = I["x"] @ P["w1"].T @ P["w2"].T @ P["w3"].T @ P["w4"].T
        return 0.5 * ((out - I["y"]) ** 2).sum()
    return {"W1": w1, "W2": w2, "W3": w3, "W3b": w3, "W4": w4}[work]


def np_grads(work, P, I, np):
    """Loss and gradients by hand in NumPy, as the notebooks write them (allocating)."""
    work = "W3" if sweep_point(work) else work
    x, y = I["x"], I["y"]
    sig = lambda z: 1 / (1 + np.exp(-z))
    if work == "W1":
        h = sig(x @ P["w_l1"].T + P["b_l1"]); a = sig(h @ P["w_l2"].T + P["b_l2"])
        dz2 = 2 * (a - y) / a.size * a * (1 - a)
        dz1 = dz2 @ P["w_l2"] * h * (1 - h)
        return ((a - y) ** 2).mean(), {"w_l1": dz1.T @ x, "b_l1": dz1.sum(0), "w_l2": dz2.T @ h, "b_l2": dz2.sum(0)}
    if work == "W2":
        a1 = x @ P["fc1"].T; a2 = a1 @ P["fc2"].T; p = sig(a2 @ P["fc3"].T)
        loss = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
        dz = (p - y) / len(x); da2 = dz @ P["fc3"]; da1 = da2 @ P["fc2"]
        return loss, {"fc3": dz.T @ a2, "fc2": da2.T @ a1, "fc1": da1.T @ x}
    if work in ("W3", "W3b"):
        z1 = x @ P["w1"] + P["b1"]; h = np.maximum(z1, 0)
        d = (h @ P["w2"] + P["b2"])[:, 0] - y
        dout = (2 / len(x)) * d
        dh = dout[:, None] * P["w2"][:, 0]; dh *= z1 > 0
        return (d * d).mean(), {"w1": x.T @ dh, "b1": dh.sum(0), "w2": h.T @ dout[:, None], "b2": dout.sum(keepdims=True)}
    if work == "W4":
        hs = [x]
        for k in ("w1", "w2", "w3", "w4"):
            hs.append(hs[-1] @ P[k].T)
        d = hs[-1] - y; loss = 0.5 * (d * d).sum(); g = {}
        for i, k in reversed(list(enumerate(("w1", "w2", "w3", "w4")))):
            g[k] = d.T @ hs[i]
            if i: d = d @ P[k]
        return loss, g
    raise ValueError(work)


def build(impl, work):
    """A callable running one SGD step of `work` in `impl`."""
    import numpy as np
    P0, I0, lr = make_data(work, np)
    if impl == "numpy":
        P = {k: v.copy() for k, v in P0.items()}
        def step():
            loss, g = np_grads(work, P, I0, np)
            for k in P:
                P[k] -= np.float32(lr) * g[k]
            return loss
        return step
    if impl in ("eager", "compile"):
        import torch
        fn = loss_fn(work, torch, torch.sigmoid, torch.relu)
        if impl == "compile":
            fn = torch.compile(fn)
        P = {k: torch.tensor(v, requires_grad=True) for k, v in P0.items()}
        I = {k: torch.from_numpy(v) for k, v in I0.items()}
        opt = torch.optim.SGD(list(P.values()), lr=lr)
        opt_step = torch.compile(opt.step) if impl == "compile" else opt.step
        def step():
            opt.zero_grad(set_to_none=True)
            loss = fn(P, I)
            loss.backward()
            opt_step()
            return loss
        return step
    if impl == "jax":
        import jax, jax.numpy as jnp
        fn = loss_fn(work, jnp, jax.nn.sigmoid, jax.nn.relu)
        @jax.jit
        def jstep(P, I):
            loss, g = jax.value_and_grad(fn)(P, I)
            return jax.tree.map(lambda p, g: p - lr * g, P, g), loss
        state = {"P": {k: jnp.asarray(v) for k, v in P0.items()}}
        I = {k: jnp.asarray(v) for k, v in I0.items()}
        def step():
            state["P"], loss = jstep(state["P"], I)
            return jax.block_until_ready(loss)
        return step
    raise ValueError(impl)


def time_steps(step, target, reps):
    """Median seconds per step over `reps` blocks of k steps, k grown until a block lasts >= target."""
    k = 1
    while True:
        t = time.perf_counter()
        for _ in range(k):
            step()
        e = time.perf_counter() - t
        if e >= target:
            break
        k = max(2 * k, int(k * 1.2 * target / max(e, 1e-9)))
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(k):
            step()
        ts.append((time.perf_counter() - t) / k)
    return sorted(ts)[reps // 2]


def sgemm_gflops(n=4096, reps=5):
    """GFLOP/s of an n^3 float32 product through NumPy's BLAS, median of `reps` after one."""
    import numpy as np
    rng = np.random.default_rng(1)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    np.matmul(a, b, out=c)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        np.matmul(a, b, out=c)
        ts.append(time.perf_counter() - t)
    return 2 * n ** 3 / sorted(ts)[reps // 2] / 1e9


def child(impl, works, threads):
    """Time each of the comma-separated `works` in this process; print their seconds per step."""
    if impl == "sgemm":
        print("RESULT " + json.dumps({"value": [sgemm_gflops()]}))
        return
    if impl in ("eager", "compile"):
        import torch
        torch.set_num_threads(threads)
    values = []
    for work in works.split(","):
        step = build(impl, work)
        for _ in range(4):
            step()
        point = sweep_point(work)
        # W3's 7.8 GFLOP (and sweep points past 3 GFLOP) take 0.3 s blocks; the rest 50 ms.
        big = work == "W3" or (point and 4 * point[0] * 784 * point[1] > 3e9)
        values.append(time_steps(step, 0.3 if big else 0.05, 11 if big else 15))
        del step
    print("RESULT " + json.dumps({"value": values}))


def run_cell(impl, work, threads):
    """Seconds per step of each comma-separated work of `work` in `impl`, in a process of its own."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    if threads == 1:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    cmd = [sys.executable, os.path.abspath(__file__), "--child", impl, work, str(threads)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    res = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
    if not res:
        print(f"{impl} {work[:40]}: failed: {(p.stderr.strip().splitlines() or ['no output'])[-1][:200]}", file=sys.stderr)
        return None
    return json.loads(res[-1][7:])["value"]


def run_ours(works, threads):
    env = dict(os.environ, BACKPROP_THREADS=str(threads))
    cmd = ["cargo", "bench", "-q", "--bench", "step", "--", "--json"]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    limit = next((r["limit_gflops"] for r in rows if "limit_gflops" in r), None)
    return {r["work"]: r for r in rows if r.get("work") in works}, limit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--impls", default="eager,compile,jax,numpy")
    ap.add_argument("--works", default="W1,W2,W4,W3b,W3")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--sweep", action="store_true", help="W3's step over batch sizes and widths, and its plot")
    ap.add_argument("--child", nargs=3, metavar=("IMPL", "WORKS", "THREADS"))
    a = ap.parse_args()
    if a.child:
        return child(a.child[0], a.child[1], int(a.child[2]))
    if a.sweep:
        return sweep(a)
    impls, works = a.impls.split(","), a.works.split(",")
    times = {(i, w): [] for i in impls + ["ours", "hand", "gemm"] for w in works}
    rates = {"numpy": [], "rust": []}
    flops = {}
    for n in range(a.passes):
        print(f"pass {n + 1}/{a.passes}: backprop", file=sys.stderr, flush=True)
        ours, rust = run_ours(works, a.threads)
        if rust is not None:
            rates["rust"].append(rust)
        print(f"pass {n + 1}/{a.passes}: sgemm", file=sys.stderr, flush=True)
        blas = run_cell("sgemm", "-", a.threads)
        if blas is not None:
            rates["numpy"].append(blas[0])
        for w, r in ours.items():
            flops[w] = r["flops"]
            times[("ours", w)].append(r["ours_s"])
            times[("hand", w)].append(r["hand_s"])
            if r["gemm_s"] is not None:
                times[("gemm", w)].append(r["gemm_s"])
        for impl in impls:
            for w in works:
                print(f"pass {n + 1}/{a.passes}: {impl} {w}", file=sys.stderr, flush=True)
                t = run_cell(impl, w, a.threads)
                if t is not None:
                    times[(impl, w)].append(t[0])
    med = {c: statistics.median(v) for c, v in times.items() if v}
    fmt = lambda s: "-" if s is None else (f"{s * 1e6:.2f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms")
    cols = ["ours", "hand", "gemm"] + impls
    rate = {k: statistics.median(v) for k, v in rates.items() if v}
    limit = max(rate.values()) if rate else None
    print(f"# {a.threads} threads, {a.passes} passes; each cell the median over passes of that pass's median per step")
    print("# limit: 4096^3 sgemm, " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in rate.items())
          + (f"; the faster, {limit:.1f} GFLOP/s, sets each workload's limit time" if limit else ""))
    print("| work | " + " | ".join({"ours": "model!", "hand": "ndarray by hand", "gemm": "GEMMs alone"}.get(c, c) for c in cols)
          + " | limit | ours / limit | ours / fastest peer | ours / numpy | ours / GEMMs |")
    print("|---" * (len(cols) + 6) + "|")
    for w in works:
        ours = med.get(("ours", w))
        # The peers are the frameworks (PyTorch and JAX); NumPy by hand gets its own column.
        peers = [med[(i, w)] for i in impls if i != "numpy" and (i, w) in med]
        best = min(peers) if peers else None
        ratio = f"{ours / best:.3f}" if ours and best else "-"
        vs_np = f"{ours / med[('numpy', w)]:.3f}" if ours and ("numpy", w) in med else "-"
        vs_gemm = f"{ours / med[('gemm', w)]:.2f}" if ours and ("gemm", w) in med else "-"
        cells = [fmt(med.get((c, w))) for c in cols]
        # W1 and W2 have a few hundred operations: no rate of products says anything of them.
        at_limit = flops[w] / (limit * 1e9) if limit and flops.get(w, 0) >= 1e6 else None
        vs_limit = f"{ours / at_limit:.2f}" if ours and at_limit else "-"
        print(f"| {w} | " + " | ".join(cells) + f" | {fmt(at_limit)} | {vs_limit} | {ratio} | {vs_np} | {vs_gemm} |")


def sweep(a):
    """Time W3's step at every point of `step.rs --sweep` in us and each peer; table, JSON, SVG."""
    impls = [i for i in a.impls.split(",") if i != "compile"]  # compile recompiles at every shape
    env = dict(os.environ, BACKPROP_THREADS=str(a.threads))
    times, rates, flops = {}, [], {}
    for n in range(a.passes):
        print(f"pass {n + 1}/{a.passes}: backprop", file=sys.stderr, flush=True)
        cmd = ["cargo", "bench", "-q", "--bench", "step", "--", "--sweep", "--json"]
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
        points = [(r["rows"], r["hidden"]) for r in rows]
        print(f"pass {n + 1}/{a.passes}: sgemm", file=sys.stderr, flush=True)
        rates += run_cell("sgemm", "-", a.threads) or []
        for r in rows:
            flops[(r["rows"], r["hidden"])] = r["flops"]
            times.setdefault(("ours", r["rows"], r["hidden"]), []).append(r["ours_s"])
        works = ",".join(f"S:{r}:{h}" for r, h in points)
        for impl in impls:
            print(f"pass {n + 1}/{a.passes}: {impl}", file=sys.stderr, flush=True)
            ts = run_cell(impl, works, a.threads)
            for (r, h), t in zip(points, ts or []):
                times.setdefault((impl, r, h), []).append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    # The limit time of each point: its products' operations at the square sgemm's rate.
    rate = statistics.median(rates) if rates else None
    if rate:
        for (r, h), f in flops.items():
            med[("limit", r, h)] = f / (rate * 1e9)
    cols = ["ours"] + impls
    names = {"ours": "model!", "eager": "PyTorch eager", "jax": "JAX jit", "numpy": "NumPy by hand"}
    fmt = lambda s: "-" if s is None else (f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms")
    print(f"# W3's step, {a.threads} threads, median of {a.passes} passes; limit: 4096^3 sgemm (NumPy's BLAS)"
          + (f" at {rate:.1f} GFLOP/s" if rate else ""))
    print("| rows | width | " + " | ".join(names.get(c, c) for c in cols)
          + " | limit | ours / limit | ours / fastest other |")
    print("|---" * (len(cols) + 5) + "|")
    for r, h in points:
        peers = [med[(i, r, h)] for i in impls if (i, r, h) in med]
        ours, at_limit = med.get(("ours", r, h)), med.get(("limit", r, h))
        ratio = f"{ours / min(peers):.2f}" if ours and peers else "-"
        vs_limit = f"{ours / at_limit:.2f}" if ours and at_limit else "-"
        print(f"| {r} | {h} | " + " | ".join(fmt(med.get((c, r, h))) for c in cols)
              + f" | {fmt(at_limit)} | {vs_limit} | {ratio} |")
    cols.append("limit")
    out = [{"impl": c, "rows": r, "hidden": h, "seconds": med[(c, r, h)]} for c in cols for r, h in points if (c, r, h) in med]
    with open(os.path.join(ROOT, "benches", "scaling.json"), "w") as f:
        json.dump({"threads": a.threads, "passes": a.passes, "sgemm_gflops": rate, "points": out}, f, indent=1)
    names["limit"] = "limit: products at sgemm's rate"
    plot(med, cols, names, points, a.threads, os.path.join(ROOT, "benches", "scaling.svg"))


def plot(med, cols, names, points, threads, path):
    """Two log-log panels: step time against batch size (width 50), against width (1,024 rows)."""
    import matplotlib
    matplotlib.use("svg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.hashsalt"] = "backprop"  # the same data draws the same file
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    by_rows = sorted({r for r, h in points if h == 50})
    wide_rows = max((r for r, h in points if h != 50), default=1024)
    by_width = sorted({h for r, h in points if r == wide_rows})
    for c in cols:
        style = {"ours": {"lw": 2.4, "color": "black"}, "limit": {"lw": 1, "color": "gray", "ls": "--"}}.get(c, {"lw": 1.2})
        xs = [r for r in by_rows if (c, r, 50) in med]
        left.plot(xs, [med[(c, r, 50)] for r in xs], marker="o", ms=3, label=names.get(c, c), **style)
        xs = [h for h in by_width if (c, wide_rows, h) in med]
        right.plot(xs, [med[(c, wide_rows, h)] for h in xs], marker="o", ms=3, label=names.get(c, c), **style)
    for ax, xl in ((left, "batch size (rows), hidden width 50"), (right, f"hidden width, {wide_rows} rows")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("seconds per SGD step")
        ax.grid(True, which="both", alpha=0.3)
    left.legend()
    fig.suptitle(f"relu(x @ w1 + b1) @ w2 + b2, MSE, x [rows, 784], float32, {threads} threads")
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})


if __name__ == "__main__":
    main()
