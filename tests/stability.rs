//! Logits of ±1000 (±100 in f32): the classic traps of hand-written backprop give finite
//! losses and gradients equal to their analytic limits, where the same formulas written
//! naively (below, by hand) give inf or NaN.

use backprop::Float;
use ndarray::{array, Array1, Array2};

backprop::model! { struct SigmoidBce; input x: [n, 1]; sigmoid(x); loss bce }
backprop::model! {
    /// Binary cross-entropy written out by hand with logs of sigmoids.
    struct HandBce;
    input x: [n, 1];
    let p = sigmoid(x);
    p;
    loss -(y * log(p) + (1 - y) * log(1 - p)).mean()
}
backprop::model! { struct Ce; input x: [n, 3]; target y; x; loss cross_entropy }
backprop::model! { struct LogSoftmax; input x: [n, 3]; x; loss -(log(softmax(out, 1)) * y).sum() }
backprop::model! { struct Softplus; input x: [n, 1]; softplus(x); loss out.sum() }
// Named losses inside a loss expression keep their rewrites.
backprop::model! {
    struct BcePenalised;
    input x: [n, 1];
    param s: [];
    sigmoid(s * x);
    loss bce(out, y) + 0.5 * s * s
}
backprop::model! {
    struct CePenalised;
    input x: [n, 3];
    target labels;
    param s: [];
    s * x;
    loss cross_entropy(out, labels) + 0.5 * s * s
}

fn naive_sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

fn naive_bce(z: &[f64], y: &[f64]) -> f64 {
    let terms = z.iter().zip(y).map(|(&z, &y)| {
        let p = naive_sigmoid(z);
        -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
    });
    terms.sum::<f64>() / z.len() as f64
}

fn naive_softmax(row: &[f64]) -> Vec<f64> {
    let total: f64 = row.iter().map(|v| v.exp()).sum();
    row.iter().map(|v| v.exp() / total).collect()
}

fn assert_limit<A: Float>(what: &str, got: &[A], want: &[f64]) {
    for (g, w) in got.iter().zip(want) {
        let g = g.as_f64();
        assert!(g.is_finite(), "{what}: {g}");
        assert!(
            (g - w).abs() <= 1e-6 * w.abs().max(1.0),
            "{what}: got {g}, limit {w}"
        );
    }
}

/// `bce(sigmoid(z), y)` for saturated logits: the loss is `|z|` per wrong row and the
/// gradient `(sigmoid(z) - y) / N` is `±1/N`.
fn bce_of_sigmoid<A: Float>(big: f64) {
    let x: Array2<A> = array![[big], [-big], [big]].mapv(A::cst);
    let y: Array2<A> = array![[0.0], [1.0], [1.0]].mapv(A::cst);
    let limit_loss = 2.0 * big / 3.0;
    let limit_grad = [1.0 / 3.0, -1.0 / 3.0, 0.0];
    let (loss, _, inputs) = SigmoidBce::<A>::new()
        .unwrap()
        .grad_with_inputs(&x, &y)
        .unwrap();
    assert_limit("bce loss", &[loss], &[limit_loss]);
    assert_limit("bce grad", inputs.x.as_slice().unwrap(), &limit_grad);
    let (loss, _, inputs) = HandBce::<A>::new()
        .unwrap()
        .grad_with_inputs(&x, &y)
        .unwrap();
    assert_limit("hand bce loss", &[loss], &[limit_loss]);
    assert_limit("hand bce grad", inputs.x.as_slice().unwrap(), &limit_grad);
}

/// `cross_entropy` of a row whose label has logit `-big` and another `big`: `2 big`, and
/// the gradient `softmax - onehot` is `[1, -1, 0]`.
fn cross_entropy<A: Float>(big: f64) {
    let x: Array2<A> = array![[big, -big, 0.0]].mapv(A::cst);
    let y = Array1::from(vec![1usize]);
    let (loss, _, inputs) = Ce::<A>::new().unwrap().grad_with_inputs(&x, &y).unwrap();
    assert_limit("cross_entropy loss", &[loss], &[2.0 * big]);
    assert_limit(
        "cross_entropy grad",
        inputs.x.as_slice().unwrap(),
        &[1.0, -1.0, 0.0],
    );
    let onehot: Array2<A> = array![[0.0, 1.0, 0.0]].mapv(A::cst);
    let (loss, _, inputs) = LogSoftmax::<A>::new()
        .unwrap()
        .grad_with_inputs(&x, &onehot)
        .unwrap();
    assert_limit("log(softmax) loss", &[loss], &[2.0 * big]);
    assert_limit(
        "log(softmax) grad",
        inputs.x.as_slice().unwrap(),
        &[1.0, -1.0, 0.0],
    );
}

/// The same, composed with a penalty `s²/2` on a scale `s = 1`: the loss adds 1/2, the
/// gradient of the input is as before, and that of `s` is `Σ δz ⊙ x + s`.
fn composed<A: Float>(big: f64) {
    let x: Array2<A> = array![[big], [-big], [big]].mapv(A::cst);
    let y: Array2<A> = array![[0.0], [1.0], [1.0]].mapv(A::cst);
    let m = BcePenalised::<A>::new(A::cst(1.0)).unwrap();
    let (loss, grads, inputs) = m.grad_with_inputs(&x, &y).unwrap();
    assert_limit("bce + s² loss", &[loss], &[2.0 * big / 3.0 + 0.5]);
    assert_limit(
        "bce + s² grad x",
        inputs.x.as_slice().unwrap(),
        &[1.0 / 3.0, -1.0 / 3.0, 0.0],
    );
    assert_limit("bce + s² grad s", &[grads.s], &[2.0 * big / 3.0 + 1.0]);

    let x: Array2<A> = array![[big, -big, 0.0]].mapv(A::cst);
    let labels = Array1::from(vec![1usize]);
    let m = CePenalised::<A>::new(A::cst(1.0)).unwrap();
    let (loss, grads, inputs) = m.grad_with_inputs(&x, &labels).unwrap();
    assert_limit("ce + s² loss", &[loss], &[2.0 * big + 0.5]);
    assert_limit(
        "ce + s² grad x",
        inputs.x.as_slice().unwrap(),
        &[1.0, -1.0, 0.0],
    );
    assert_limit("ce + s² grad s", &[grads.s], &[2.0 * big + 1.0]);
}

/// `softplus(±big)` is `big` and 0, its gradient `sigmoid` is 1 and 0.
fn softplus<A: Float>(big: f64) {
    let x: Array2<A> = array![[big], [-big]].mapv(A::cst);
    let (loss, _, inputs) = Softplus::<A>::new().unwrap().grad_with_inputs(&x).unwrap();
    assert_limit("softplus", &[loss], &[big]);
    assert_limit("softplus grad", inputs.x.as_slice().unwrap(), &[1.0, 0.0]);
}

#[test]
fn extreme_logits_give_the_analytic_limits() {
    bce_of_sigmoid::<f64>(1000.0);
    bce_of_sigmoid::<f32>(100.0);
    cross_entropy::<f64>(1000.0);
    cross_entropy::<f32>(100.0);
    softplus::<f64>(1000.0);
    softplus::<f32>(100.0);
    composed::<f64>(1000.0);
    composed::<f32>(100.0);
}

/// The same formulas without the rewrites: what a hand-written kernel gives.
#[test]
fn naive_formulas_overflow() {
    // ln(1 - 1) = -inf, and 0 * -inf = NaN where the target is 1.
    assert!(!naive_bce(&[1000.0, -1000.0, 1000.0], &[0.0, 1.0, 1.0]).is_finite());
    assert!(naive_bce(&[1000.0], &[0.0]).is_infinite());
    let p = naive_softmax(&[1000.0, -1000.0, 0.0]);
    assert!(p[0].is_nan(), "softmax of 1000 by hand: {p:?}");
    let log_p: f64 = naive_softmax(&[1.0, -1000.0, 0.0])[1].ln();
    assert!(
        log_p.is_infinite(),
        "log of an underflowed probability: {log_p}"
    );
    assert!((1.0 + 1000f64.exp()).ln().is_infinite());
    let f32_softplus = (1.0 + 100f32.exp()).ln();
    assert!(f32_softplus.is_infinite());
}

backprop::model! {
    /// Constants whose products overflow an `f64` when folded: the model compiles and the
    /// arithmetic overflows as IEEE 754 says, at run time.
    struct Overflowing;
    input x: [n, 1];
    param w: [1, 1];
    x @ w;
    loss ((out - y) * 1e160).pow(2).mean() + (out * 1.7976931348623157e308).sum()
}

#[test]
fn constants_that_overflow_when_folded_compile_and_overflow_at_run_time() {
    let m = Overflowing::<f64>::new(ndarray::array![[1.0]]).unwrap();
    let (x, y) = (ndarray::array![[2.0]], ndarray::array![[1.0]]);
    let (loss, grads) = m.grad(&x, &y).unwrap();
    assert_eq!(loss, f64::INFINITY);
    assert_eq!(grads.w[[0, 0]], f64::INFINITY);
    // A small difference is squared within range and the sum's term stays finite.
    let (loss, _) = m
        .grad(&ndarray::array![[1e-200]], &ndarray::array![[0.0]])
        .unwrap();
    assert!(loss.is_finite(), "{loss}");
}
