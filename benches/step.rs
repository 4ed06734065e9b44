//! One full SGD training step (forward, loss, gradients, update) of each workload, three
//! ways in one run: through `model!`'s workspace path, written by hand over `ndarray` as
//! the notebooks write it, and the step's matrix products alone. Prints medians per step
//! and the ratios between them.
//!
//! ```text
//! cargo bench --bench step                      # every workload
//! cargo bench --bench step -- --only W3         # one workload (for peak RSS)
//! cargo bench --bench step -- --json            # one JSON line per workload
//! cargo bench --bench step -- --only W3 --model-only   # `model!` alone (peak RSS)
//! cargo bench --bench step -- --roofline        # each product alone, against the limit
//! cargo bench --bench step -- --sweep           # W3's step over batch sizes and widths
//! ```
//!
//! The limit is the rate of a 4096 × 4096 × 4096 product through the crate's own path
//! (`faer` on the pool's threads), measured in the same run (skipped with `--only` unless
//! `--limit` is given): each workload's limit time is its products' floating-point
//! operations at that rate, and `vs limit` is the step's time over it.
//!
//! Workloads (f32), as `shared/bench` defines them for PyTorch and JAX:
//! - W1 hello: 1-1-1 with sigmoids, x = 0.8, MSE against 1, lr 0.1.
//! - W2 Nugues: bias-free 3-4-2-1, sigmoid, BCE, a batch of 4, lr 0.1.
//! - W3 fastai: `relu(x @ w1 + b1) @ w2 + b2`, `mean((out[:, 0] - y)^2)`, x [50000, 784]
//!   uniform in [0, 1), lr 1e-5. W3b: its first 256 rows.
//! - W4 seed 000: bias-free 784-512-264-128-1, a batch of 20, `0.5 * sum(e^2)`, lr 1e-3.

use std::hint::black_box;
use std::time::{Duration, Instant};

use backprop::fused::matmul_into;
use ndarray::{array, Array1, Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

backprop::model! {
    struct Hello;
    let h = sigmoid(x @ w_l1.T + b_l1);
    sigmoid(h @ w_l2.T + b_l2);
    loss mse
}

backprop::model! {
    struct Nugues;
    input x: [n, 3];
    target y: [n, 1];
    param fc1: [4, 3], fc2: [2, 4], fc3: [1, 2];
    sigmoid(x @ fc1.T @ fc2.T @ fc3.T);
    loss bce
}

backprop::model! { struct Fastai; relu(x @ w1 + b1) @ w2 + b2; loss (out[:, 0] - y).pow(2).mean() }

backprop::model! { struct Seed000; x @ w1.T @ w2.T @ w3.T @ w4.T; loss 0.5 * sse(out, y) }

/// Whether to time `model!` alone (W3 and W3b), for a process whose memory is its own.
static MODEL_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A workload's runner.
type Workload = fn() -> Row;

/// Medians of one workload, in seconds per step.
struct Row {
    work: &'static str,
    /// The floating-point operations of the step's matrix products.
    flops: f64,
    ours: f64,
    hand: f64,
    gemm: Option<f64>,
    loss: f32,
}

/// The median time per call of `f`, over blocks of calls that each last at least `target`.
fn time(target: Duration, reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut k = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..k {
            f();
        }
        let e = t.elapsed();
        if e >= target {
            break;
        }
        let grow = target.as_secs_f64() * 1.2 / e.as_secs_f64().max(1e-9);
        k = (k * 2).max((k as f64 * grow) as usize);
    }
    let mut ts: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..k {
                f();
            }
            t.elapsed().as_secs_f64() / k as f64
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    ts[reps / 2]
}

fn uniform(rng: &mut ChaCha8Rng, shape: (usize, usize), lo: f32, hi: f32) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || rng.random_range(lo..hi))
}

fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize)) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || {
        let (u, v): (f32, f32) = (1.0 - rng.random::<f32>(), rng.random());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
    })
}

fn sigmoid(z: &Array2<f32>) -> Array2<f32> {
    z.mapv(|v| 1.0 / (1.0 + (-v).exp()))
}

const SMALL: Duration = Duration::from_millis(50);

fn w1() -> Row {
    let (x, y) = (array![[0.8f32]], array![[1.0f32]]);
    let start = || {
        Hello::<f32>::new(array![[1.58]], array![-0.14], array![[2.45]], array![-0.11])
            .expect("shapes fit")
    };
    let mut m = start();
    let mut ws = m.workspace();
    let mut loss = 0.0;
    let ours = time(SMALL, 15, || {
        loss = m.step(&mut ws, &x, &y, 0.1).expect("shapes fit");
        black_box(&m);
    });
    let mut p = start();
    let hand = time(SMALL, 15, || {
        let h = sigmoid(&(x.dot(&p.w_l1.t()) + &p.b_l1));
        let a = sigmoid(&(h.dot(&p.w_l2.t()) + &p.b_l2));
        let dz2 = (&a - &y) * (2.0 / a.len() as f32) * &a * a.mapv(|v| 1.0 - v);
        let dz1 = dz2.dot(&p.w_l2) * &h * h.mapv(|v| 1.0 - v);
        p.w_l1.scaled_add(-0.1, &dz1.t().dot(&x));
        p.b_l1.scaled_add(-0.1, &dz1.sum_axis(Axis(0)));
        p.w_l2.scaled_add(-0.1, &dz2.t().dot(&h));
        p.b_l2.scaled_add(-0.1, &dz2.sum_axis(Axis(0)));
        black_box(&p);
    });
    Row {
        work: "W1",
        flops: flops("W1"),
        ours,
        hand,
        gemm: None,
        loss,
    }
}

fn w2() -> Row {
    let x = array![[1.0f32, 2., 3.], [2., 3., 4.], [3., 4., 5.], [4., 5., 6.]];
    let y = array![[1.0f32], [0.], [1.], [0.]];
    let start = || {
        Nugues::<f32>::new(
            array![
                [0.2369, 0.4875, -0.0785],
                [-0.1420, 0.5180, -0.4875],
                [-0.0190, -0.2783, 0.3500],
                [0.2950, -0.3992, 0.5065]
            ],
            array![
                [-0.0172, -0.1255, 0.3816, 0.4249],
                [-0.0027, -0.1248, 0.4886, 0.1373]
            ],
            array![[-0.2785, 0.4220]],
        )
        .expect("shapes fit")
    };
    let mut m = start();
    let mut ws = m.workspace();
    let mut loss = 0.0;
    let ours = time(SMALL, 15, || {
        loss = m.step(&mut ws, &x, &y, 0.1).expect("shapes fit");
        black_box(&m);
    });
    let mut p = start();
    let hand = time(SMALL, 15, || {
        let a1 = x.dot(&p.fc1.t());
        let a2 = a1.dot(&p.fc2.t());
        let out = sigmoid(&a2.dot(&p.fc3.t()));
        let dz = (&out - &y) / x.nrows() as f32;
        let da2 = dz.dot(&p.fc3);
        let da1 = da2.dot(&p.fc2);
        p.fc3.scaled_add(-0.1, &dz.t().dot(&a2));
        p.fc2.scaled_add(-0.1, &da2.t().dot(&a1));
        p.fc1.scaled_add(-0.1, &da1.t().dot(&x));
        black_box(&p);
    });
    Row {
        work: "W2",
        flops: flops("W2"),
        ours,
        hand,
        gemm: None,
        loss,
    }
}

/// W3's data and weights at `rows` rows and a hidden layer `hidden` wide: `x`, `y`, `w1`,
/// `w2` (the biases start at zero).
fn w3_data(rows: usize, hidden: usize) -> (Array2<f32>, Array1<f32>, Array2<f32>, Array2<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = uniform(&mut rng, (rows, 784), 0.0, 1.0);
    let y: Array1<f32> = (0..rows).map(|_| rng.random_range(0..10) as f32).collect();
    let w1 = randn(&mut rng, (784, hidden));
    let w2 = randn(&mut rng, (hidden, 1)) * 0.1;
    (x, y, w1, w2)
}

fn w3(rows: usize, work: &'static str) -> Row {
    let (x, y, w1, w2) = w3_data(rows, 50);
    let start = || {
        Fastai::<f32>::new(w1.clone(), Array1::zeros(50), w2.clone(), Array1::zeros(1))
            .expect("shapes fit")
    };
    let lr = 1e-5;
    let (target, reps) = if rows > 10_000 {
        (Duration::from_millis(300), 11)
    } else {
        (SMALL, 15)
    };
    let mut m = start();
    let mut ws = m.workspace();
    let mut loss = 0.0;
    let ours = time(target, reps, || {
        loss = m.step(&mut ws, &x, &y, lr).expect("shapes fit");
        black_box(&m);
    });
    drop(ws);
    if MODEL_ONLY.load(std::sync::atomic::Ordering::Relaxed) {
        return Row {
            work,
            flops: flops(work),
            ours,
            hand: f64::NAN,
            gemm: None,
            loss,
        };
    }
    let mut p = start();
    let hand = time(target, reps, || {
        let z1 = x.dot(&p.w1) + &p.b1;
        let h = z1.mapv(|v| v.max(0.0));
        let d = (h.dot(&p.w2) + &p.b2).column(0).to_owned() - &y;
        let dout = (d * (2.0 / rows as f32)).insert_axis(Axis(1));
        let mut dh = dout.dot(&p.w2.t());
        dh.zip_mut_with(&z1, |g, &z| *g = if z > 0.0 { *g } else { 0.0 });
        p.w1.scaled_add(-lr, &x.t().dot(&dh));
        p.b1.scaled_add(-lr, &dh.sum_axis(Axis(0)));
        p.w2.scaled_add(-lr, &h.t().dot(&dout));
        p.b2.scaled_add(-lr, &dout.sum_axis(Axis(0)));
        black_box(&p);
    });
    drop(p);
    // The two big products of the step: x @ w1 and x^T @ dz1.
    let mut z = Array2::zeros((rows, 50));
    let mut dw = Array2::zeros((784, 50));
    let dz = z.clone();
    let gemm = time(target, reps, || {
        matmul_into(x.view(), w1.view(), z.view_mut()).expect("shapes fit");
        matmul_into(x.t(), dz.view(), dw.view_mut()).expect("shapes fit");
        black_box((&z, &dw));
    });
    Row {
        work,
        flops: flops(work),
        ours,
        hand,
        gemm: Some(gemm),
        loss,
    }
}

fn w4() -> Row {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let dims = [784, 512, 264, 128, 1];
    let w: Vec<Array2<f32>> = dims
        .windows(2)
        .map(|io| {
            let bound = 1.0 / (io[0] as f32).sqrt();
            uniform(&mut rng, (io[1], io[0]), -bound, bound)
        })
        .collect();
    let x = uniform(&mut rng, (20, 784), 0.0, 1.0);
    let y = uniform(&mut rng, (20, 1), 0.0, 1.0);
    let start = || {
        Seed000::<f32>::new(w[0].clone(), w[1].clone(), w[2].clone(), w[3].clone())
            .expect("shapes fit")
    };
    let lr = 1e-3;
    let mut m = start();
    let mut ws = m.workspace();
    let mut loss = 0.0;
    let ours = time(SMALL, 15, || {
        loss = m.step(&mut ws, &x, &y, lr).expect("shapes fit");
        black_box(&m);
    });
    let mut p = [w[0].clone(), w[1].clone(), w[2].clone(), w[3].clone()];
    let hand = time(SMALL, 15, || {
        let mut hs = vec![x.clone()];
        for wk in &p {
            let next = hs[hs.len() - 1].dot(&wk.t());
            hs.push(next);
        }
        let mut d = &hs[4] - &y;
        for i in (0..4).rev() {
            let g = d.t().dot(&hs[i]);
            if i > 0 {
                d = d.dot(&p[i]);
            }
            p[i].scaled_add(-lr, &g);
        }
        black_box(&p);
    });
    // The step's eleven products: four forward, four weight gradients, three backward.
    let mut hs: Vec<Array2<f32>> = dims.iter().map(|&d| Array2::zeros((20, d))).collect();
    hs[0].assign(&x);
    let mut ds = hs.clone();
    let mut gs: Vec<Array2<f32>> = w.iter().map(|wk| Array2::zeros(wk.raw_dim())).collect();
    let gemm = time(SMALL, 15, || {
        for i in 0..4 {
            let (done, rest) = hs.split_at_mut(i + 1);
            matmul_into(done[i].view(), w[i].t(), rest[0].view_mut()).expect("shapes fit");
        }
        for i in (0..4).rev() {
            matmul_into(ds[i + 1].t(), hs[i].view(), gs[i].view_mut()).expect("shapes fit");
            if i > 0 {
                let (lo, hi) = ds.split_at_mut(i + 1);
                matmul_into(hi[0].view(), w[i].view(), lo[i].view_mut()).expect("shapes fit");
            }
        }
        black_box((&hs, &gs));
    });
    Row {
        work: "W4",
        flops: flops("W4"),
        ours,
        hand,
        gemm: Some(gemm),
        loss,
    }
}

/// One matrix product of a step: `[m, k] @ [k, n]`, each operand either stored as it is
/// used or the transpose of a stored array (`w.T`, `x^T`), as the step uses it.
struct Product {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    a_t: bool,
    b_t: bool,
}

const fn product(
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    a_t: bool,
    b_t: bool,
) -> Product {
    Product {
        name,
        m,
        k,
        n,
        a_t,
        b_t,
    }
}

/// The matrix products of one step of `work`, forward then backward.
fn products(work: &str) -> Vec<Product> {
    match work {
        "W1" => [
            "x @ w_l1.T",
            "h @ w_l2.T",
            "dz2 @ w_l2",
            "dz2^T @ h",
            "dz1^T @ x",
        ]
        .map(|name| product(name, 1, 1, 1, name.contains('^'), name.contains(".T")))
        .into(),
        "W2" => vec![
            product("x @ fc1.T", 4, 3, 4, false, true),
            product("a1 @ fc2.T", 4, 4, 2, false, true),
            product("a2 @ fc3.T", 4, 2, 1, false, true),
            product("dz @ fc3", 4, 1, 2, false, false),
            product("da2 @ fc2", 4, 2, 4, false, false),
            product("dz^T @ a2", 1, 4, 2, true, false),
            product("da2^T @ a1", 2, 4, 4, true, false),
            product("da1^T @ x", 4, 4, 3, true, false),
        ],
        "W3" => w3_products(50_000, 50),
        "W3b" => w3_products(256, 50),
        "W4" => vec![
            product("x @ w1.T", 20, 784, 512, false, true),
            product("h1 @ w2.T", 20, 512, 264, false, true),
            product("h2 @ w3.T", 20, 264, 128, false, true),
            product("h3 @ w4.T", 20, 128, 1, false, true),
            product("d4^T @ h3", 1, 20, 128, true, false),
            product("d4 @ w4", 20, 1, 128, false, false),
            product("d3^T @ h2", 128, 20, 264, true, false),
            product("d3 @ w3", 20, 128, 264, false, false),
            product("d2^T @ h1", 264, 20, 512, true, false),
            product("d2 @ w2", 20, 264, 512, false, false),
            product("d1^T @ x", 512, 20, 784, true, false),
        ],
        _ => Vec::new(),
    }
}

/// The matrix products of one step of W3's model at `rows` rows and width `hidden`.
fn w3_products(rows: usize, hidden: usize) -> Vec<Product> {
    vec![
        product("x @ w1", rows, 784, hidden, false, false),
        product("h @ w2", rows, hidden, 1, false, false),
        product("dout @ w2.T", rows, 1, hidden, false, true),
        product("x^T @ dz1", 784, rows, hidden, true, false),
        product("h^T @ dout", hidden, rows, 1, true, false),
    ]
}

/// The floating-point operations of one step's products.
fn flops(work: &str) -> f64 {
    total_flops(&products(work))
}

/// The floating-point operations of these products.
fn total_flops(products: &[Product]) -> f64 {
    products
        .iter()
        .map(|p| 2.0 * (p.m * p.k * p.n) as f64)
        .sum()
}

/// A `rows × cols` operand as the step holds it: stored as used, or the transpose of a
/// stored `cols × rows` array.
fn operand(rng: &mut ChaCha8Rng, rows: usize, cols: usize, transposed: bool) -> Array2<f32> {
    if transposed {
        uniform(rng, (cols, rows), -1.0, 1.0).reversed_axes()
    } else {
        uniform(rng, (rows, cols), -1.0, 1.0)
    }
}

/// The median time of `f`, over `reps` calls after one.
fn median_of(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut ts: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    ts[reps / 2]
}

/// The limit: GFLOP/s of a 4096 × 4096 × 4096 product through the crate's own path.
fn limit() -> f64 {
    let n = 4096;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let a = uniform(&mut rng, (n, n), -1.0, 1.0);
    let b = uniform(&mut rng, (n, n), -1.0, 1.0);
    let mut c = Array2::zeros((n, n));
    let t = median_of(5, || {
        matmul_into(a.view(), b.view(), c.view_mut()).expect("shapes fit");
        black_box(&c);
    });
    2.0 * (n * n * n) as f64 / t / 1e9
}

/// Each product of W3, W3b and W4 alone, in the step's layouts: time, GFLOP/s and the
/// share of the limit, as a Markdown table.
fn roofline(limit_gflops: f64) {
    println!("| work | product | shape | time | GFLOP/s | of the limit |");
    println!("|---|---|---|---:|---:|---:|");
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for work in ["W3", "W3b", "W4"] {
        for p in products(work) {
            let a = operand(&mut rng, p.m, p.k, p.a_t);
            let b = operand(&mut rng, p.k, p.n, p.b_t);
            let mut c = Array2::zeros((p.m, p.n));
            let flops = 2.0 * (p.m * p.k * p.n) as f64;
            let (target, reps) = if flops > 1e9 {
                (Duration::from_millis(300), 11)
            } else {
                (SMALL, 15)
            };
            let t = time(target, reps, || {
                matmul_into(a.view(), b.view(), c.view_mut()).expect("shapes fit");
                black_box(&c);
            });
            let rate = flops / t / 1e9;
            println!(
                "| {work} | `{}` | [{}, {}] · [{}, {}] | {} | {rate:.1} | {:.0}% |",
                p.name,
                p.m,
                p.k,
                p.k,
                p.n,
                show(t),
                100.0 * rate / limit_gflops
            );
        }
    }
}

/// The batch sizes of the sweep's first axis (at W3's width, 50) and the widths of its
/// second (at 1,024 rows): `benches/peers.py --sweep` times the same points in the peers.
const SWEEP_ROWS: [usize; 9] = [1, 4, 16, 64, 256, 1024, 4096, 16_384, 50_000];
const SWEEP_WIDTHS: [usize; 7] = [16, 32, 64, 128, 256, 512, 1024];
const SWEEP_WIDTH_ROWS: usize = 1024;

/// The points of the sweep: (rows, width).
fn sweep_points() -> Vec<(usize, usize)> {
    let by_rows = SWEEP_ROWS.iter().map(|&r| (r, 50));
    let by_width = SWEEP_WIDTHS.iter().map(|&h| (SWEEP_WIDTH_ROWS, h));
    by_rows.chain(by_width).collect()
}

/// The floating-point operations of the products of W3's step at `rows` rows and width
/// `hidden`.
fn w3_flops(rows: usize, hidden: usize) -> f64 {
    total_flops(&w3_products(rows, hidden))
}

/// The median time of one step of W3's model with `rows` rows and a hidden layer `hidden`
/// wide, data drawn as W3 draws it.
fn w3_step(rows: usize, hidden: usize) -> f64 {
    let (x, y, w1, w2) = w3_data(rows, hidden);
    let mut m =
        Fastai::<f32>::new(w1, Array1::zeros(hidden), w2, Array1::zeros(1)).expect("shapes fit");
    let mut ws = m.workspace();
    let (target, reps) = if w3_flops(rows, hidden) > 3e9 {
        (Duration::from_millis(300), 11)
    } else {
        (SMALL, 15)
    };
    time(target, reps, || {
        black_box(m.step(&mut ws, &x, &y, 1e-5).expect("shapes fit"));
    })
}

fn show(secs: f64) -> String {
    if secs.is_nan() {
        "-".to_string()
    } else if secs < 1e-3 {
        format!("{:.2} µs", secs * 1e6)
    } else {
        format!("{:.2} ms", secs * 1e3)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let json = args.iter().any(|a| a == "--json");
    if args.iter().any(|a| a == "--model-only") {
        MODEL_ONLY.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--sweep") {
        for (rows, hidden) in sweep_points() {
            let t = w3_step(rows, hidden);
            if json {
                let flops = w3_flops(rows, hidden);
                println!(
                    "{{\"rows\": {rows}, \"hidden\": {hidden}, \"flops\": {flops}, \"ours_s\": {t}}}"
                );
            } else {
                println!("{rows:>6} rows, width {hidden:>5}: {}", show(t));
            }
        }
        return;
    }
    let limit_gflops = (only.is_none() || has("--limit") || has("--roofline")).then(limit);
    if has("--roofline") {
        roofline(limit_gflops.unwrap_or(f64::NAN));
        return;
    }
    let runs: [(&str, Workload); 5] = [
        ("W1", w1),
        ("W2", w2),
        ("W4", w4),
        ("W3b", || w3(256, "W3b")),
        ("W3", || w3(50_000, "W3")),
    ];
    if json {
        if let Some(g) = limit_gflops {
            println!("{{\"limit_gflops\": {g}}}");
        }
    } else {
        if let Some(g) = limit_gflops {
            println!(
                "limit: {g:.1} GFLOP/s (4096 × 4096 × 4096, f32, {} threads)",
                backprop::threads()
            );
        }
        println!(
            "{:<4} {:>12} {:>14} {:>12} {:>10} {:>10} {:>12} {:>10}",
            "work",
            "model!",
            "ndarray hand",
            "GEMMs alone",
            "vs hand",
            "vs GEMMs",
            "limit",
            "vs limit"
        );
    }
    for (name, run) in runs {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let r = run();
        if json {
            let gemm = r.gemm.map_or("null".to_string(), |g| g.to_string());
            println!(
                "{{\"work\": \"{}\", \"ours_s\": {}, \"hand_s\": {}, \"gemm_s\": {}, \"flops\": {}, \"loss\": {}}}",
                r.work, r.ours, r.hand, gemm, r.flops, r.loss
            );
        } else {
            let (gemm, vs_gemm) = match r.gemm {
                Some(g) => (show(g), format!("{:.2}x", r.ours / g)),
                None => ("-".to_string(), "-".to_string()),
            };
            let at_limit = limit_gflops.map(|g| r.flops / (g * 1e9));
            println!(
                "{:<4} {:>12} {:>14} {:>12} {:>10} {:>10} {:>12} {:>10}",
                r.work,
                show(r.ours),
                show(r.hand),
                gemm,
                format!("{:.3}x", r.ours / r.hand),
                vs_gemm,
                at_limit.map_or("-".to_string(), show),
                at_limit.map_or("-".to_string(), |t| format!("{:.2}x", r.ours / t)),
            );
        }
    }
}
