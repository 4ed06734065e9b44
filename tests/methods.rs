//! Every generated method of models that between them use every op and every path of the
//! code generation (fused passes, passes in place, views, spreads, scalars, the stability
//! rewrites, several inputs), compiled without a warning: `loss`, `grad`,
//! `grad_with_inputs`, `trace`, `forward`, `grad_in` and `step` agree with each other,
//! and the gradients with finite differences of the loss.
#![deny(warnings)]

mod common;

use common::{assert_grads_match, max_difference, numeric_grads};
use ndarray::{Array, Array1, Array2, Dimension, IntoDimension};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

backprop::model! { struct Mlp; relu(x @ w1 + b1) @ w2 + b2; loss mse }
backprop::model! {
    struct Logistic;
    input x: [n, 3];
    target y: [n, 1];
    let z = x @ w.T + b;
    sigmoid(z);
    loss bce
}
backprop::model! {
    struct Classifier;
    input x: [n, 4];
    target y: [n];
    tanh(x @ w1 + b1) @ w2;
    loss cross_entropy
}
backprop::model! {
    struct Extremes;
    input x: [n, 3];
    target y: [n, 3];
    param w: [3, 3], v: [3, 3];
    let z = x @ w;
    let m = z.max(1, keepdim=True).values;
    let e = exp(z - m);
    e / e.sum(1, keepdim=True) + (x @ v).amin(0) + z.max(0);
    loss mse
}
backprop::model! {
    struct NllPenalised;
    input x: [n, 4];
    target y: [n];
    param w1: [4, 5], w2: [5, 3];
    log_softmax(tanh(x @ w1 + b1) @ w2);
    loss nll(out, y) + 0.01 * (w2 * w2).sum()
}
backprop::model! {
    struct Lanes;
    input x: [n, 3];
    target y: [n, 3];
    param w: [3, 3], v: [3, 3], s: [];
    let p = softmax(x @ w * s, 0);
    log_softmax(p @ v, 1);
    loss -(out * y).sum(1).mean()
}
backprop::model! {
    struct Functions;
    input x: [n, 2];
    target y: [n, 2];
    let a = x @ w;
    sqrt(a * a + 1) + log(a * a + 1) + exp(tanh(a)) + softplus(a) - leaky_relu(a, 0.2)
        + clamp_min(a, 0.1) * sigmoid(a) + abs(a);
    loss l1
}
backprop::model! {
    struct Vectors;
    input x: [n, 3];
    target y: [n];
    param w: [3, 4], b: [4], v: [4], u: [3], c: [];
    let h = relu(x @ w + b);
    h @ v + (x @ u).sum() * c;
    loss (out - y).pow(2).mean()
}
backprop::model! {
    struct Columns;
    input x: [n, 3];
    target y: [n];
    let z = x @ w;
    z[:, 0] * z[:, 1] + z.mean(1);
    loss sse(out, y)
}
backprop::model! {
    struct Tied;
    input x: [n, 4];
    target y: [n, 4];
    param w: [4, 3];
    let h = relu(x @ w);
    let ht = h.T;
    ht.T @ w.T;
    loss mse
}
backprop::model! { struct Logits; input x: [n, 3]; target y: [n, 2]; x @ w + b; loss bce_logits }
backprop::model! {
    struct TwoInputs;
    input a: [n, 3], x: [n, 2];
    target y: [n, 1];
    relu(a @ w1 + x @ w2) @ w3;
    loss mse
}

backprop::model! {
    struct Odd;
    input x: [n, 2], t: [];
    target y: [n, 2];
    param s: [];
    let unused = x * 2;
    let scaled = x * s * t;
    scaled;
    loss mse
}

backprop::model! {
    struct Wide;
    input a: [n, 2], b: [n, 2], c: [n, 2], d: [n, 2], e: [n, 2], f: [n, 2];
    target y: [n, 2], t: [n, 2];
    let h1 = tanh(a @ w1 + b);
    let h2 = tanh(h1 @ w2 + c);
    let h3 = tanh(h2 @ w3 + d);
    let h4 = tanh(h3 @ w4 + e);
    let h5 = tanh(h4 @ w5 + f);
    let h6 = tanh(h5 @ w6);
    h6 * h1 * h2 * h3 * h4 * h5;
    loss ((out - y) * (out - t)).pow(2).mean()
}

backprop::model! {
    /// Names the generated code also needs for its own helpers and locals.
    struct Awkward;
    input forward: [n, 2], model: [n, 2];
    target check: [n, 1];
    param ws: [2, 3], lr: [3, 1], seed: [2, 3], rng: [3];
    let dims = relu(forward @ ws + model @ seed + rng);
    let t1 = dims @ lr;
    let scaled = t1 * 2;
    scaled;
    loss mse(out, check)
}

fn uniform<Sh: IntoDimension>(
    rng: &mut ChaCha8Rng,
    shape: Sh,
    lo: f64,
    hi: f64,
) -> Array<f64, Sh::Dim>
where
    Sh::Dim: Dimension,
{
    Array::from_shape_simple_fn(shape.into_dimension(), || rng.random_range(lo..hi))
}

/// The checks of one model at one point: `$args` are the inputs and `$targets` the
/// targets; the gradient `inputs.$dx` is checked against finite differences of `$at`, the
/// loss as a function of that input, at `$x`.
macro_rules! agree {
    ($what:literal, $m:ident, [$($arg:expr),*], [$($target:expr),*], $dx:ident: $at:expr, $x:expr) => {{
        let m = &$m;
        let loss = m.loss($($arg,)* $($target),*).unwrap();
        let (l1, grads) = m.grad($($arg,)* $($target),*).unwrap();
        let (l2, grads2, inputs) = m.grad_with_inputs($($arg,)* $($target),*).unwrap();
        assert_eq!((l1, l2), (loss, loss), "{}: the losses", $what);
        assert_eq!(grads, grads2, "{}: grad and grad_with_inputs", $what);
        let trace = m.trace($($arg,)* $($target),*).unwrap();
        let close = |a: f64| (a - loss).abs() <= 1e-12 * loss.abs().max(1e-300);
        assert!(close(trace.loss), "{}: the trace's loss", $what);
        assert!(max_difference(&trace.grads, &grads) < 1e-12, "{}: the trace's grads", $what);
        assert_eq!(trace.out, m.forward($($arg),*).unwrap(), "{}: the output", $what);
        let mut ws = m.workspace();
        let (l3, in_place) = m.grad_in(&mut ws, $($arg,)* $($target),*).unwrap();
        assert!(close(l3), "{}: grad_in's loss", $what);
        assert!(max_difference(in_place, &grads) < 1e-12, "{}: grad_in", $what);
        let (mut stepped, mut by_hand) = ($m.clone(), $m.clone());
        let l4 = stepped.step(&mut ws, $($arg,)* $($target,)* 0.1).unwrap();
        by_hand.sgd(&grads, 0.1).unwrap();
        assert!(close(l4), "{}: step's loss", $what);
        assert!(max_difference(&stepped, &by_hand) < 1e-12, "{}: step", $what);
        let numeric = numeric_grads(m, |m| m.loss($($arg,)* $($target),*).unwrap());
        assert_grads_match($what, &grads, &numeric);
        let dx = backprop::numeric_gradient($at, $x, 1e-6);
        for (a, n) in inputs.$dx.iter().zip(&dx) {
            let tol = 1e-5 * a.abs().max(n.abs()) + 1e-7;
            assert!((a - n).abs() <= tol, "{}: d_{}: {a:e} against {n:e}", $what, stringify!($dx));
        }
    }};
}

#[test]
fn every_path_agrees() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let n = 5;

    let m = Mlp::<f64>::init(1, [3, 4], [4], [4, 2], [2]).unwrap();
    let (x, y) = (
        uniform(&mut rng, [n, 3], -1.0, 1.0),
        uniform(&mut rng, [n, 2], -1.0, 1.0),
    );
    agree!("mlp", m, [&x], [&y], x: |x| m.loss(x, &y).unwrap(), &x);

    let m = Logistic::<f64>::init(2).unwrap();
    let y = uniform(&mut rng, [n, 1], 0.1, 0.9);
    agree!("logistic", m, [&x], [&y], x: |x| m.loss(x, &y).unwrap(), &x);

    let m = Classifier::<f64>::init(3, [4, 5], [5], [5, 3]).unwrap();
    let x4 = uniform(&mut rng, [n, 4], -1.0, 1.0);
    let labels: Array1<usize> = (0..n).map(|i| i % 3).collect();
    agree!("classifier", m, [&x4], [&labels], x: |x| m.loss(x, &labels).unwrap(), &x4);
    let m = Extremes::<f64>::init(5).unwrap();
    let x3 = uniform(&mut rng, [n, 3], -1.0, 1.0);
    let y3 = uniform(&mut rng, [n, 3], 0.0, 1.0);
    agree!("extremes", m, [&x3], [&y3], x: |x| m.loss(x, &y3).unwrap(), &x3);

    let m = NllPenalised::<f64>::init(3).unwrap();
    agree!("nll", m, [&x4], [&labels], x: |x| m.loss(x, &labels).unwrap(), &x4);

    let m = Lanes::<f64>::init(4).unwrap();
    let y = uniform(&mut rng, [n, 3], 0.0, 1.0);
    agree!("lanes", m, [&x], [&y], x: |x| m.loss(x, &y).unwrap(), &x);

    let m = Functions::<f64>::init(5).unwrap();
    let x2 = uniform(&mut rng, [n, 2], -1.0, 1.0);
    let y2 = uniform(&mut rng, [n, 2], -1.0, 1.0);
    agree!("functions", m, [&x2], [&y2], x: |x| m.loss(x, &y2).unwrap(), &x2);

    let m = Vectors::<f64>::init(6).unwrap();
    let y1 = uniform(&mut rng, [n], -1.0, 1.0);
    agree!("vectors", m, [&x], [&y1], x: |x| m.loss(x, &y1).unwrap(), &x);

    let m = Columns::<f64>::init(7, [3, 2]).unwrap();
    agree!("columns", m, [&x], [&y1], x: |x| m.loss(x, &y1).unwrap(), &x);

    let m = Tied::<f64>::init(8).unwrap();
    let y4 = uniform(&mut rng, [n, 4], -1.0, 1.0);
    agree!("tied", m, [&x4], [&y4], x: |x| m.loss(x, &y4).unwrap(), &x4);

    let m = Logits::<f64>::init(9).unwrap();
    let yb = uniform(&mut rng, [n, 2], 0.0, 1.0);
    agree!("logits", m, [&x], [&yb], x: |x| m.loss(x, &yb).unwrap(), &x);

    // A scalar input is a number, as a scalar parameter is.
    let m = Odd::<f64>::init(11).unwrap();
    let t = 0.7;
    agree!("odd", m, [&x2, t], [&y2], x: |x| m.loss(x, t, &y2).unwrap(), &x2);
    let trace = m.trace(&x2, t, &y2).unwrap();
    assert_eq!(trace.unused, &x2 * 2.0);
    assert!(
        trace.d_unused.iter().all(|&d| d == 0.0),
        "a value the loss does not read"
    );

    let m = Wide::<f64>::init(12).unwrap();
    let v: Vec<Array2<f64>> = (0..8)
        .map(|_| uniform(&mut rng, [n, 2], -1.0, 1.0))
        .collect();
    let [a, b, c, d, e, f, y, t] = [0, 1, 2, 3, 4, 5, 6, 7].map(|i| &v[i]);
    agree!("wide", m, [a, b, c, d, e, f], [y, t], a: |a| m.loss(a, b, c, d, e, f, y, t).unwrap(), a);

    let m = Awkward::<f64>::init(13).unwrap();
    let y = uniform(&mut rng, [n, 1], -1.0, 1.0);
    agree!("awkward", m, [&x2, &x2], [&y], forward: |f| m.loss(f, &x2, &y).unwrap(), &x2);

    let m = TwoInputs::<f64>::init(10, [3, 4], [2, 4], [4, 1]).unwrap();
    let y = uniform(&mut rng, [n, 1], -1.0, 1.0);
    agree!("two inputs", m, [&x, &x2], [&y], x: |a| m.loss(&x, a, &y).unwrap(), &x2);
}

/// `trace` follows the model as written where the methods compute a stable rewrite of it:
/// its `d_z` is `δŷ ⊙ σ'(z)`, the methods' `(ŷ − y) / N`, equal to rounding.
#[test]
fn trace_follows_the_model_as_written() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let m = Logistic::<f64>::init(2).unwrap();
    let x: Array2<f64> = uniform(&mut rng, [4, 3], -1.0, 1.0);
    let y = uniform(&mut rng, [4, 1], 0.1, 0.9);
    let t = m.trace(&x, &y).unwrap();
    let expected = (&t.out - &y) / 4.0;
    for (a, b) in t.d_z.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-15, "{a} against {b}");
    }
    assert!(Logistic::CODE.contains("fn trace_as_written<"));
    assert!(
        !Mlp::CODE.contains("fn trace_as_written<"),
        "the same graph needs no second"
    );
}
