//! The network of makemore part 4, "becoming a backprop ninja" (Karpathy, nn-zero-to-hero),
//! written as the notebook writes it: an embedding `C[Xb]` viewed as rows, a linear layer,
//! batch norm written out, tanh, a linear layer and the cross-entropy written out. `trace`
//! gives the 26 gradients the notebook checks by hand, against PyTorch's `retain_grad`
//! values (tests/data/makemore.py → makemore.json): float64 to 1e-10 element by element,
//! float32 within 1e-5 of PyTorch's float32 relative to each gradient's largest element.
//! (Element by element, float32 sums with cancellation differ by up to 2.3e-4 between
//! PyTorch's own float32 and float64 here, and by 1.2e-4 between ours and PyTorch's
//! float32; relative to the largest element, by 3.9e-7 and 3.7e-7.) The same network with
//! `batch_norm` and with `cross_entropy` built in gives the same loss and parameter
//! gradients to 1e-12. The example trains the network on the names shipped with the
//! crate and learns.

mod common;
#[path = "../examples/makemore.rs"]
mod example;

use backprop::Float;
use common::{assert_close, assert_scalar_close, Golden};
// The notebook's network, its forward pass line for line, is the example's: the network
// it trains is the one checked here.
use example::Ninja;
use ndarray::{Array1, Array2, ArrayD, IxDyn};

const JSON: &str = include_str!("data/makemore.json");

backprop::model! {
    /// The same network with the library's `batch_norm` (batch statistics, biased
    /// variance, as PyTorch's training mode) and `cross_entropy`; the notebook's Bessel
    /// correction is written as the scale of the variance it divides by.
    pub struct Fused;
    input Xb: [n, 3];
    target Yb;
    param C: [27, 10], W1: [30, 64], b1: [64], W2: [64, 27], b2: [27], bngain: [1, 64], bnbias: [1, 64];
    let embcat = C[Xb].view(n, 30);
    let hprebn = embcat @ W1 + b1;
    let bnmeani = hprebn.mean(0, keepdim=True);
    let bnvar = hprebn.var(0, keepdim=True);
    let bnraw = (hprebn - bnmeani) * (bnvar + 1e-5)**-0.5;
    let h = tanh(bngain * bnraw + bnbias);
    h @ W2 + b2;
    loss cross_entropy(out, Yb)
}

backprop::model! {
    /// With `batch_norm` itself, whose variance is PyTorch's (biased): the loss differs
    /// from the notebook's by the correction, so it is compared with `BiasedNinja`.
    pub struct Library;
    input Xb: [n, 3];
    target Yb;
    param C: [27, 10], W1: [30, 64], b1: [64], W2: [64, 27], b2: [27], bngain: [64], bnbias: [64];
    let hprebn = C[Xb].reshape(-1, 30) @ W1 + b1;
    let h = tanh(batch_norm(hprebn, bngain, bnbias, 1e-5));
    h @ W2 + b2;
    loss cross_entropy(out, Yb)
}

backprop::model! {
    /// The notebook's lines with the biased variance, `1/n`, as `batch_norm` uses.
    pub struct BiasedNinja;
    input Xb: [n, 3];
    target Yb;
    param C: [27, 10], W1: [30, 64], b1: [64], W2: [64, 27], b2: [27], bngain: [1, 64], bnbias: [1, 64];
    let emb = C[Xb];
    let embcat = emb.view(emb.shape[0], -1);
    let hprebn = embcat @ W1 + b1;
    let bnmeani = 1/n*hprebn.sum(0, keepdim=True);
    let bndiff = hprebn - bnmeani;
    let bnvar = 1/n*(bndiff**2).sum(0, keepdim=True);
    let bnraw = bndiff * (bnvar + 1e-5)**-0.5;
    let h = tanh(bngain * bnraw + bnbias);
    let logits = h @ W2 + b2;
    let logit_maxes = logits.max(1, keepdim=True).values;
    let counts = (logits - logit_maxes).exp();
    let logprobs = (counts * counts.sum(1, keepdims=True)**-1).log();
    logits;
    loss -logprobs[range(n), Yb].mean()
}

fn inputs(g: &Golden) -> (Array2<usize>, Array1<usize>) {
    let xb = g.tensor::<f64, ndarray::Ix2>("Xb").mapv(|i| i as usize);
    let yb = g.tensor::<f64, ndarray::Ix1>("Yb").mapv(|i| i as usize);
    (xb, yb)
}

fn ninja<A: Float>(g: &Golden) -> Ninja<A> {
    Ninja::new(
        g.value("C"),
        g.value("W1"),
        g.value("b1"),
        g.value("W2"),
        g.value("b2"),
        g.value("bngain"),
        g.value("bnbias"),
    )
    .unwrap()
}

/// `got` equal to `want` within `tol` times the largest element of `want`, or element by
/// element when `elementwise`.
fn compare<A: Float>(what: &str, got: &ArrayD<A>, want: &ArrayD<A>, tol: f64, elementwise: bool) {
    if elementwise {
        return assert_close(what, got, want, tol);
    }
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    let size = want.iter().fold(0.0f64, |m, v| m.max(v.as_f64().abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.as_f64(), w.as_f64());
        assert!(
            (g - w).abs() <= tol * size,
            "{what}[{i}]: got {g:e}, want {w:e}, largest {size:e}"
        );
    }
}

fn check<A: Float>(case: &str, tol: f64, elementwise: bool) {
    let g = Golden::from_json(JSON, case);
    let m = ninja::<A>(&g);
    let (xb, yb) = inputs(&g);
    let t = m.trace(&xb, &yb).unwrap();
    assert_scalar_close("loss", t.loss.as_f64(), g.loss(), tol);
    let grad = |name: &str| g.grad::<A, IxDyn>(name);
    let dyn_ = |a: &dyn backprop::params::Field<A>| a.tensor().to_owned();
    let grads: [(&str, ArrayD<A>); 26] = [
        ("logprobs", dyn_(&t.d_logprobs)),
        ("probs", dyn_(&t.d_probs)),
        ("counts_sum_inv", dyn_(&t.d_counts_sum_inv)),
        ("counts_sum", dyn_(&t.d_counts_sum)),
        ("counts", dyn_(&t.d_counts)),
        ("norm_logits", dyn_(&t.d_norm_logits)),
        ("logit_maxes", dyn_(&t.d_logit_maxes)),
        ("logits", dyn_(&t.d_logits)),
        ("h", dyn_(&t.d_h)),
        ("W2", dyn_(&t.grads.W2)),
        ("b2", dyn_(&t.grads.b2)),
        ("hpreact", dyn_(&t.d_hpreact)),
        ("bngain", dyn_(&t.grads.bngain)),
        ("bnbias", dyn_(&t.grads.bnbias)),
        ("bnraw", dyn_(&t.d_bnraw)),
        ("bnvar_inv", dyn_(&t.d_bnvar_inv)),
        ("bnvar", dyn_(&t.d_bnvar)),
        ("bndiff2", dyn_(&t.d_bndiff2)),
        ("bndiff", dyn_(&t.d_bndiff)),
        ("bnmeani", dyn_(&t.d_bnmeani)),
        ("hprebn", dyn_(&t.d_hprebn)),
        ("embcat", dyn_(&t.d_embcat)),
        ("W1", dyn_(&t.grads.W1)),
        ("b1", dyn_(&t.grads.b1)),
        ("emb", dyn_(&t.d_emb)),
        ("C", dyn_(&t.grads.C)),
    ];
    // Gradients that are zero but for rounding, in PyTorch and here: `b1` (batch norm
    // subtracts the batch mean) and the maxima subtracted before `exp` (softmax does not
    // depend on them). They are compared with the scale of the gradients around them.
    let near_zero = ["b1", "logit_maxes"];
    for (name, got) in &grads {
        let want = grad(name);
        if near_zero.contains(name) {
            let size = |a: &ArrayD<A>| a.iter().fold(0.0f64, |m, v| m.max(v.as_f64().abs()));
            assert!(
                size(got) < tol && size(&want) < tol,
                "d_{name}: {got} and {want}"
            );
        } else {
            compare(&format!("d_{name}"), got, &want, tol, elementwise);
        }
    }
    assert_eq!(t.emb.shape(), [32, 3, 10]);
    assert_eq!(t.d_emb.shape(), [32, 3, 10]);
    assert_eq!(t.embcat.shape(), [32, 30]);
    // The allocation-free path gives the same gradients.
    let mut ws = m.workspace();
    let (loss, grads_in) = m.grad_in(&mut ws, &xb, &yb).unwrap();
    assert_scalar_close("grad_in's loss", loss.as_f64(), t.loss.as_f64(), tol);
    for (name, a, b) in [
        ("C", dyn_(&grads_in.C), dyn_(&t.grads.C)),
        ("W1", dyn_(&grads_in.W1), dyn_(&t.grads.W1)),
        ("bngain", dyn_(&grads_in.bngain), dyn_(&t.grads.bngain)),
    ] {
        compare(&format!("grad_in's d_{name}"), &a, &b, tol, elementwise);
    }
}

#[test]
fn every_gradient_of_the_ninja_notebook_matches_pytorch() {
    check::<f64>("ninja_f64", 1e-10, true);
    check::<f32>("ninja_f32", 1e-5, false);
}

#[test]
fn built_in_batch_norm_and_cross_entropy_give_the_same_gradients() {
    let g = Golden::from_json(JSON, "ninja_f64");
    let m = ninja::<f64>(&g);
    let (xb, yb) = inputs(&g);
    let (loss, grads) = m.grad(&xb, &yb).unwrap();
    let tol = 1e-12;
    let fused = Fused::new(
        m.C.clone(),
        m.W1.clone(),
        m.b1.clone(),
        m.W2.clone(),
        m.b2.clone(),
        m.bngain.clone(),
        m.bnbias.clone(),
    )
    .unwrap();
    let (fused_loss, fused_grads) = fused.grad(&xb, &yb).unwrap();
    assert_scalar_close("cross_entropy's loss", fused_loss, loss, tol);
    assert_eq!(
        backprop::params::Tensors::names(&fused_grads),
        backprop::params::Tensors::names(&grads)
    );
    for (name, (a, b)) in [
        ("C", (&fused_grads.C, &grads.C)),
        ("W1", (&fused_grads.W1, &grads.W1)),
        ("W2", (&fused_grads.W2, &grads.W2)),
        ("bngain", (&fused_grads.bngain, &grads.bngain)),
        ("bnbias", (&fused_grads.bnbias, &grads.bnbias)),
    ] {
        assert_close(&format!("d_{name}"), a, b, tol);
    }
    assert_close("d_b2", &fused_grads.b2, &grads.b2, tol);
    // batch_norm's variance is biased, so it is compared with the notebook's lines at 1/n.
    let biased = BiasedNinja::new(
        m.C.clone(),
        m.W1.clone(),
        m.b1.clone(),
        m.W2.clone(),
        m.b2.clone(),
        m.bngain.clone(),
        m.bnbias.clone(),
    )
    .unwrap();
    let (biased_loss, biased_grads) = biased.grad(&xb, &yb).unwrap();
    let row = |a: &Array2<f64>| a.row(0).to_owned();
    let library = Library::new(
        m.C.clone(),
        m.W1.clone(),
        m.b1.clone(),
        m.W2.clone(),
        m.b2.clone(),
        row(&m.bngain),
        row(&m.bnbias),
    )
    .unwrap();
    let (library_loss, library_grads) = library.grad(&xb, &yb).unwrap();
    assert_scalar_close("batch_norm's loss", library_loss, biased_loss, tol);
    assert!(
        (biased_loss - loss).abs() > 1e-6,
        "the correction matters here"
    );
    assert_close("d_C", &library_grads.C, &biased_grads.C, tol);
    assert_close("d_W1", &library_grads.W1, &biased_grads.W1, tol);
    assert_close("d_W2", &library_grads.W2, &biased_grads.W2, tol);
    assert_close("d_b2", &library_grads.b2, &biased_grads.b2, tol);
    assert_close(
        "d_bngain",
        &library_grads.bngain,
        &row(&biased_grads.bngain),
        tol,
    );
    assert_close(
        "d_bnbias",
        &library_grads.bnbias,
        &row(&biased_grads.bnbias),
        tol,
    );
}

backprop::model! {
    /// Rows of four, however many the input holds.
    pub struct Fours;
    input x: [n, m];
    param w: [4, 2];
    x.view(-1, 4) @ w;
    loss out.sum()
}

#[test]
fn indices_and_sizes_that_do_not_fit_are_errors_before_any_arithmetic() {
    let g = Golden::from_json(JSON, "ninja_f64");
    let m = ninja::<f64>(&g);
    let (mut xb, yb) = inputs(&g);
    xb[[5, 2]] = 27;
    let want = "`Xb` holds the index 27 at [5, 2], but the table has 27 rows (`C[Xb]`)";
    let err = m.forward(&xb).unwrap_err();
    assert_eq!(err.to_string(), format!("Ninja::forward: {want}"));
    let mut ws = m.workspace();
    let err = m.grad_in(&mut ws, &xb, &yb).unwrap_err();
    assert_eq!(err.to_string(), format!("Ninja::grad_in: {want}"));
    // The labels are checked as well.
    let (xb, mut yb) = inputs(&g);
    yb[3] = 30;
    let err = m.grad(&xb, &yb).unwrap_err();
    assert!(
        err.to_string().contains("`Yb` holds the class label 30"),
        "{err}"
    );
    // A `-1` whose length does not divide, known only at run time.
    let fours = Fours::<f64>::init(0).unwrap();
    // Twelve ones as three rows of four: each row of the product is `w`'s column sums.
    let x = Array2::from_shape_fn((2, 6), |(i, j)| (i * 6 + j) as f64);
    let out = fours.forward(&x).unwrap();
    let rows = x.into_shape_with_order((3, 4)).unwrap();
    assert_close("x.view(-1, 4) @ w", &out, &rows.dot(&fours.w), 1e-15);
    let err = fours.forward(&Array2::ones((3, 3))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Fours::forward: `x.view(_, 4)` cannot hold the 9 elements of `x` [3, 3]"
    );
}

#[test]
fn the_example_learns_names_well_below_a_uniform_guess() {
    // The contexts of "emma", as the notebook builds them.
    let (x, y) = example::dataset(&["emma"]);
    assert_eq!(
        x,
        ndarray::array![[0, 0, 0], [0, 0, 5], [0, 5, 13], [5, 13, 13], [13, 13, 1]]
    );
    assert_eq!(y, ndarray::array![5, 13, 13, 1, 0]);
    // A short run, a tenth of the example's: 2,000 steps of 32.
    let run = example::train(2000, 42).unwrap();
    let uniform = 27f32.ln();
    let (first, last) = (run.losses[0].1, run.dev_loss);
    assert!(
        (first - uniform).abs() < 0.5,
        "the first batch's loss {first} is about ln 27"
    );
    // Held out, with batch norm calibrated on the training names: at least 0.8 below a
    // uniform guess over 27 characters (ln 27 = 3.30); the example's 20,000 steps reach
    // 2.10.
    eprintln!(
        "2,000 steps: first batch {first}, training {}, held out {last}",
        run.train_loss
    );
    assert!(
        last < uniform - 0.8,
        "held-out loss {last} after 2,000 steps"
    );
    assert!(
        run.train_loss < uniform - 0.8,
        "training loss {}",
        run.train_loss
    );
    let names = example::sample(&run.model, 20, 7).unwrap();
    assert_eq!(names.len(), 20);
    assert!(
        names
            .iter()
            .all(|n| n.bytes().all(|c| c.is_ascii_lowercase())),
        "{names:?}"
    );
    // Names, not noise: most are 2 to 10 letters long.
    let plausible = names.iter().filter(|n| (2..=10).contains(&n.len())).count();
    assert!(plausible >= 14, "{names:?}");
}

#[test]
fn the_derivation_reads_as_the_notebooks_hand_derivation() {
    let text = Ninja::DERIVATION;
    // One line per intermediate, in the order the notebook derives them.
    let order = [
        "logprobs",
        "probs",
        "counts_sum_inv",
        "counts_sum",
        "counts",
        "norm_logits",
        "logit_maxes",
        "logits",
        "h",
        "hpreact",
        "bnraw",
        "bnvar_inv",
        "bnvar",
        "bndiff2",
        "bndiff",
        "bnmeani",
        "hprebn",
        "embcat",
        "emb",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|name| {
            let line = format!("\n  δ{name} = ");
            text.find(&line)
                .unwrap_or_else(|| panic!("no line for δ{name}:\n{text}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    // Each over the names before it, as the notebook writes them.
    for line in [
        "δlogprobs = −(1 / N) · onehot(Yb)",
        "δprobs = δlogprobs / probs ",
        "δcounts_sum_inv = Σ_cols (δprobs ⊙ counts) ",
        "δcounts = δprobs ⊙ counts_sum_inv + expand(δcounts_sum) ",
        "δlogits = δnorm_logits + δlogit_maxes at argmax logits ",
        "δbnvar = -0.5 · δbnvar_inv ⊙ (bnvar + 0.00001)^-1.5 ",
        "δbndiff2 = expand(δbnvar / (N − 1))",
        "δbndiff = δbnraw ⊙ bnvar_inv + 2 · δbndiff2 ⊙ bndiff ",
        "δbnmeani = −Σ_rows δbndiff ",
        "δhprebn = δbndiff + expand(δbnmeani / N) ",
        "δemb = δembcat reshaped as emb",
        "∂L/∂C = scatter_add(δemb, Xb)",
        "N = Xb.shape[0]",
    ] {
        assert!(text.contains(line), "no `{line}` in\n{text}");
    }
    // `batch_norm`'s gradient in its closed form: the gradient less its mean and less
    // the normalised input times their mean product, over the deviation.
    let text = Library::DERIVATION;
    for part in [
        "z1 = norm_rows(hprebn) ⊙ bngain + bnbias",
        "δhprebn = (δz1 ⊙ bngain − Σ_rows (δz1 ⊙ bngain) / M − norm_rows(hprebn) ⊙ Σ_rows (δz1 ⊙ bngain ⊙ norm_rows(hprebn)) / M) ⊙ (1/std_rows(hprebn))",
        "[norm', product rule]",
        "∂L/∂bngain = Σ_rows (δz1 ⊙ norm_rows(hprebn))",
    ] {
        assert!(text.contains(part), "no `{part}` in\n{text}");
    }
}
