//! Reductions that keep their axis and `max`, in the network of makemore's "backprop
//! ninja" notebook past its embedding, written out as the notebook writes it: every
//! intermediate's gradient from `trace` against PyTorch's `retain_grad` values
//! (tests/data/keepdim.py → keepdim.json), float64 to 1e-10 and float32 to 1e-5 of
//! PyTorch's float32; the same network with `cross_entropy` built in; `var` and `std`
//! against PyTorch's; and the spellings PyTorch accepts.

mod common;

use backprop::Float;
use common::{assert_close, assert_scalar_close, Golden};
use ndarray::{Array1, Array2, IxDyn};

const JSON: &str = include_str!("data/keepdim.json");

backprop::model! {
    /// The notebook's batch-norm layer and cross-entropy, its names and lines as it writes
    /// them (but `labels` for `Yb`, `x` for `embcat`, and `let` before each).
    pub struct BatchNorm;
    input x: [n, 4];
    target labels;
    param w1: [4, 5], b1: [5], bngain: [1, 5], bnbias: [1, 5], w2: [5, 3], b2: [3];
    let hprebn = x @ w1 + b1;
    let bnmeani = 1/n*hprebn.sum(0, keepdim=True);
    let bndiff = hprebn - bnmeani;
    let bndiff2 = bndiff**2;
    let bnvar = 1/(n-1)*(bndiff2).sum(0, keepdim=True);
    let bnvar_inv = (bnvar + 1e-5)**-0.5;
    let bnraw = bndiff * bnvar_inv;
    let hpreact = bngain * bnraw + bnbias;
    let h = tanh(hpreact);
    let logits = h @ w2 + b2;
    let logit_maxes = logits.max(1, keepdim=True).values;
    let norm_logits = logits - logit_maxes;
    let counts = norm_logits.exp();
    let counts_sum = counts.sum(1, keepdims=True);
    let counts_sum_inv = counts_sum**-1;
    let probs = counts * counts_sum_inv;
    let logprobs = probs.log();
    logprobs;
    loss -logprobs[range(n), labels].mean()
}

backprop::model! {
    /// The same over a fixed batch of 8, with `cross_entropy` built in.
    pub struct Builtin;
    input x: [8, 4];
    target labels;
    param w1: [4, 5], b1: [5], bngain: [1, 5], bnbias: [1, 5], w2: [5, 3], b2: [3];
    let hprebn = x @ w1 + b1;
    let bnmeani = 1/8 * hprebn.sum(0, keepdim=True);
    let bndiff = hprebn - bnmeani;
    let bndiff2 = bndiff**2;
    let bnvar = 1/(8-1) * (bndiff2).sum(0, keepdim=True);
    let bnvar_inv = (bnvar + 1e-5)**-0.5;
    let bnraw = bndiff * bnvar_inv;
    let hpreact = bngain * bnraw + bnbias;
    let h = tanh(hpreact);
    let logits = h @ w2 + b2;
    logits;
    loss cross_entropy(out, labels)
}

fn check<A: Float>(case: &str, tol: f64) {
    let g = Golden::from_json(JSON, case);
    let m = BatchNorm::<A>::new(
        g.value("w1"),
        g.value("b1"),
        g.value("bngain"),
        g.value("bnbias"),
        g.value("w2"),
        g.value("b2"),
    )
    .unwrap();
    let x: Array2<A> = g.value("x");
    let labels: Array1<usize> = g.tensor::<f64, ndarray::Ix1>("labels").mapv(|l| l as usize);
    let t = m.trace(&x, &labels).unwrap();
    assert_scalar_close("loss", t.loss.as_f64(), g.loss(), tol);
    let grad = |name: &str| g.grad::<A, IxDyn>(name);
    for (name, d) in [
        ("w1", t.grads.w1.clone().into_dyn()),
        ("bngain", t.grads.bngain.clone().into_dyn()),
        ("bnbias", t.grads.bnbias.clone().into_dyn()),
        ("w2", t.grads.w2.clone().into_dyn()),
        ("b2", t.grads.b2.clone().into_dyn()),
    ] {
        assert_close(&format!("d_{name}"), &d, &grad(name), tol);
    }
    // Batch norm subtracts the batch mean, so `b1` has no effect: its gradient is zero
    // but for rounding, here and in PyTorch.
    let zero = |d: &ndarray::ArrayD<A>| d.iter().all(|v| v.as_f64().abs() < 1e-2 * tol);
    assert!(
        zero(&t.grads.b1.clone().into_dyn()) && zero(&grad("b1")),
        "{}",
        t.grads.b1
    );
    // Likewise the maxima subtracted before `exp`: softmax does not depend on them.
    let maxes = t.d_logit_maxes.clone().into_dyn();
    assert!(zero(&maxes) && zero(&grad("logit_maxes")), "{maxes}");
    for (name, d) in [
        ("hprebn", t.d_hprebn.clone().into_dyn()),
        ("bnmeani", t.d_bnmeani.clone().into_dyn()),
        ("bndiff", t.d_bndiff.clone().into_dyn()),
        ("bndiff2", t.d_bndiff2.clone().into_dyn()),
        ("bnvar", t.d_bnvar.clone().into_dyn()),
        ("bnvar_inv", t.d_bnvar_inv.clone().into_dyn()),
        ("bnraw", t.d_bnraw.clone().into_dyn()),
        ("hpreact", t.d_hpreact.clone().into_dyn()),
        ("h", t.d_h.clone().into_dyn()),
        ("logits", t.d_logits.clone().into_dyn()),
        ("norm_logits", t.d_norm_logits.clone().into_dyn()),
        ("counts", t.d_counts.clone().into_dyn()),
        ("counts_sum", t.d_counts_sum.clone().into_dyn()),
        ("counts_sum_inv", t.d_counts_sum_inv.clone().into_dyn()),
        ("probs", t.d_probs.clone().into_dyn()),
        ("logprobs", t.d_out.clone().into_dyn()),
    ] {
        assert_close(&format!("d_{name}"), &d, &grad(name), tol);
    }
    // A kept axis has length 1.
    assert_eq!(t.bnmeani.shape(), [1, 5]);
    assert_eq!(t.bnvar_inv.shape(), [1, 5]);
    // The allocation-free path gives the same gradients.
    let (loss, grads) = m.grad(&x, &labels).unwrap();
    let mut ws = m.workspace();
    let (loss_in, grads_in) = m.grad_in(&mut ws, &x, &labels).unwrap();
    assert_scalar_close("grad_in", loss_in.as_f64(), loss.as_f64(), tol);
    assert_close("grad_in's d_bngain", &grads_in.bngain, &grads.bngain, tol);
    assert_close("grad_in's d_w1", &grads_in.w1, &grads.w1, tol);
    // A fixed batch of 8 and `cross_entropy` built in: the same numbers.
    let fixed = Builtin::<A>::new(
        m.w1.clone(),
        m.b1.clone(),
        m.bngain.clone(),
        m.bnbias.clone(),
        m.w2.clone(),
        m.b2.clone(),
    )
    .unwrap();
    let tf = fixed.trace(&x, &labels).unwrap();
    assert_scalar_close("built-in loss", tf.loss.as_f64(), t.loss.as_f64(), tol);
    assert_close("built-in d_bnvar", &tf.d_bnvar, &t.d_bnvar, tol);
    assert_close("built-in d_hprebn", &tf.d_hprebn, &t.d_hprebn, tol);
    assert_close("built-in d_logits", &tf.d_out, &t.d_logits, tol);
    assert_close("built-in d_w1", &tf.grads.w1, &t.grads.w1, tol);
    assert_close("built-in d_bngain", &tf.grads.bngain, &t.grads.bngain, tol);
    let (x4, labels4) = (
        x.slice(ndarray::s![..4, ..]),
        labels.slice(ndarray::s![..4]),
    );
    let t4 = m.trace(x4, labels4).unwrap();
    // Over 4 rows, `1/n` and `1/(n-1)` are the mean and Bessel's variance of those rows.
    let (axis, h) = (ndarray::Axis(0), t4.hprebn.mapv(|v| v.as_f64()));
    let mean = h.mean_axis(axis).unwrap().insert_axis(axis).mapv(A::cst);
    let var = h.var_axis(axis, 1.0).insert_axis(axis).mapv(A::cst);
    assert_close("bnmeani over 4 rows", &t4.bnmeani, &mean, tol);
    assert_close("bnvar over 4 rows", &t4.bnvar, &var, tol);
}

#[test]
fn batch_norm_written_out_matches_pytorch_at_every_intermediate() {
    check::<f64>("batch_norm_f64", 1e-10);
    check::<f32>("batch_norm_f32", 1e-5);
}

backprop::model! { struct Rows; input x: [n, 3]; x / x.shape[0] - 1/n; loss out.sum() }
backprop::model! { struct KeepAll; input x: [n, 3]; let s = x.sum(keepdim=True); x / s; loss out.sum() }
backprop::model! { struct Spellings; input x: [n, 3]; x - x.mean(dim=-1, keepdims=True) + x.sum(1, keepdim=true); loss out.sum() }

#[test]
fn pytorch_spellings_of_keepdim() {
    let x = ndarray::array![[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]];
    // x.sum(keepdim=True) is [1, 1]: each element over the total.
    let out = KeepAll::<f64>::new().unwrap().forward(&x).unwrap();
    for (got, want) in out.iter().zip(&x / 22.0) {
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }
    // `x.shape[0]` and `n` are the rows at run time.
    let out = Rows::<f64>::new().unwrap().forward(&x).unwrap();
    for (got, want) in out.iter().zip(x.mapv(|v| v / 2.0 - 0.5)) {
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }
    // dim= and keepdims=, true as Rust writes it: each row less its mean plus its sum.
    let out = Spellings::<f64>::new().unwrap().forward(&x).unwrap();
    let want = ndarray::array![[5.0, 6.0, 7.0], [16.0 - 16.0 / 3.0 + 0.0, 0.0, 0.0]];
    assert_eq!(out.row(0), want.row(0));
    let row1: Vec<f64> = [4.0, 5.0, 7.0]
        .iter()
        .map(|v| v - 16.0 / 3.0 + 16.0)
        .collect();
    for (got, want) in out.row(1).iter().zip(row1) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
}

backprop::model! {
    /// `var` with Bessel's correction, `std` without, and `var` over all elements.
    pub struct Spread;
    input x: [n, 4];
    target y: [n, 3];
    param a: [4, 3], w: [1, 3];
    let z = x @ a;
    let v = z.var(0, keepdim=True);
    let sd = z.std(1, correction=0, keepdim=True);
    let u = z.var(unbiased=False);
    z * w / v + sd + u;
    loss mse
}

#[test]
fn var_and_std_as_pytorch_defines_them() {
    fn check<A: Float>(tol: f64) {
        let g = Golden::from_json(JSON, "spread");
        let m = Spread::<A>::new(g.value("a"), g.value("w")).unwrap();
        let (x, y): (Array2<A>, Array2<A>) = (g.value("x"), g.value("y"));
        let out = m.forward(&x).unwrap();
        assert_close("out", &out, &g.out::<A, IxDyn>(out.shape()), tol);
        let (loss, grads, inputs) = m.grad_with_inputs(&x, &y).unwrap();
        assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
        g.assert_grads(&grads, tol);
        assert_close("d_x", &inputs.x, &g.grad::<A, IxDyn>("x"), tol);
        let mut ws = m.workspace();
        let (_, fused) = m.grad_in(&mut ws, &x, &y).unwrap();
        assert_close("grad_in's d_a", &fused.a, &grads.a, tol);
    }
    check::<f64>(1e-10);
    check::<f32>(1e-4);
}

backprop::model! {
    /// `batch_norm` and `layer_norm` as library functions, as PyTorch's.
    pub struct Norms;
    input x: [n, 4];
    target labels;
    param a: [4, 5], g1: [5], b1: [5], g2: [5], b2: [5], w2: [5, 3];
    let z = x @ a;
    let h = tanh(batch_norm(z, g1, b1));
    layer_norm(h, g2, b2, 1e-3) @ w2;
    loss cross_entropy(out, labels)
}

backprop::model! {
    /// The same batch norm written out, with the biased variance PyTorch normalises by.
    pub struct NormsLong;
    input x: [n, 4];
    target labels;
    param a: [4, 5], g1: [5], b1: [5], g2: [5], b2: [5], w2: [5, 3];
    let z = x @ a;
    let mean = 1/n * z.sum(0, keepdim=True);
    let d = z - mean;
    let var = 1/n * (d**2).sum(0, keepdim=True);
    let h = tanh(g1 * d * (var + 1e-5)**-0.5 + b1);
    let m2 = h.mean(1, keepdim=True);
    let v2 = h.var(1, keepdim=True, unbiased=False);
    ((h - m2) / (v2 + 1e-3).pow(0.5) * g2 + b2) @ w2;
    loss cross_entropy(out, labels)
}

#[test]
fn batch_and_layer_norm_as_pytorch_and_as_written_out() {
    fn check<A: Float>(tol: f64) {
        let g = Golden::from_json(JSON, "norms");
        let params = || {
            (
                g.value::<A, Array2<A>>("a"),
                g.value::<A, Array1<A>>("g1"),
                g.value::<A, Array1<A>>("b1"),
                g.value::<A, Array1<A>>("g2"),
                g.value::<A, Array1<A>>("b2"),
                g.value::<A, Array2<A>>("w2"),
            )
        };
        let (a, g1, b1, g2, b2, w2) = params();
        let m = Norms::<A>::new(a, g1, b1, g2, b2, w2).unwrap();
        let x: Array2<A> = g.value("x");
        let labels: Array1<usize> = g.tensor::<f64, ndarray::Ix1>("labels").mapv(|l| l as usize);
        let out = m.forward(&x).unwrap();
        assert_close("out", &out, &g.out::<A, IxDyn>(out.shape()), tol);
        let (loss, grads, inputs) = m.grad_with_inputs(&x, &labels).unwrap();
        assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
        g.assert_grads(&grads, tol);
        assert_close("d_x", &inputs.x, &g.grad::<A, IxDyn>("x"), tol);
        // Written out, the same loss and gradients.
        let (a, g1, b1, g2, b2, w2) = params();
        let long = NormsLong::<A>::new(a, g1, b1, g2, b2, w2).unwrap();
        let (long_loss, long_grads) = long.grad(&x, &labels).unwrap();
        let same = if std::mem::size_of::<A>() == 8 {
            1e-12
        } else {
            tol
        };
        assert_scalar_close("long loss", long_loss.as_f64(), loss.as_f64(), same);
        assert_close("long d_a", &long_grads.a, &grads.a, same);
        assert_close("long d_g1", &long_grads.g1, &grads.g1, same);
        assert_close("long d_g2", &long_grads.g2, &grads.g2, same);
        assert_close("long d_w2", &long_grads.w2, &grads.w2, same);
    }
    check::<f64>(1e-10);
    check::<f32>(1e-4);
}
