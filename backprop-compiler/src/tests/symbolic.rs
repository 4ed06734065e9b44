//! DSL in, simplified derivative out: the derivatives a person would write.

use super::{derivative, lowered};

const MLP: &str = "relu(x @ w1 + b1) @ w2 + b2; loss mse";
const NUGUES: &str = "
    let z1 = x @ fc1.T;
    let z2 = z1 @ fc2.T;
    let z3 = z2 @ fc3.T;
    sigmoid(z3);
    loss bce";

#[test]
fn mse_derivative_is_two_residuals_over_n() {
    assert_eq!(derivative(MLP, "out"), "2 * (out - y) / numel(out)");
    assert_eq!(derivative(MLP, "b2"), "d_out.sum(0)");
    assert_eq!(derivative(MLP, "w2"), "relu(x @ w1 + b1).T @ d_out");
    assert_eq!(
        derivative(MLP, "w1"),
        "x.T @ (d_out @ w2.T * (x @ w1 + b1 > 0))"
    );
    assert_eq!(
        derivative(MLP, "b1"),
        "(d_out @ w2.T * (x @ w1 + b1 > 0)).sum(0)"
    );
    assert_eq!(
        derivative(MLP, "x"),
        "d_out @ w2.T * (x @ w1 + b1 > 0) @ w1.T"
    );
}

/// The notebook's deltas: `delta3 = y_hat - y` (over N), then `delta2 = delta3 @ W3`,
/// `grad W3 = delta3.T @ z2`, and `delta0 = delta1 @ W1`.
#[test]
fn bce_of_sigmoid_is_prediction_minus_target() {
    assert_eq!(derivative(NUGUES, "z3"), "(out - y) / numel(z3)");
    assert_eq!(derivative(NUGUES, "z2"), "d_z3 @ fc3");
    assert_eq!(derivative(NUGUES, "z1"), "d_z2 @ fc2");
    assert_eq!(derivative(NUGUES, "fc3"), "d_z3.T @ z2");
    assert_eq!(derivative(NUGUES, "fc2"), "d_z2.T @ z1");
    assert_eq!(derivative(NUGUES, "fc1"), "d_z1.T @ x");
    assert_eq!(derivative(NUGUES, "x"), "d_z1 @ fc1");
}

#[test]
fn fan_out_sums_the_gradients_of_every_use() {
    let tied = "relu(x @ w) @ w.T; loss mse(out, x)";
    assert_eq!(
        derivative(tied, "w"),
        "d_out.T @ relu(x @ w) + x.T @ (d_out @ w * (x @ w > 0))"
    );
    // x is the input and the target: both paths reach it.
    assert_eq!(
        derivative(tied, "x"),
        "-2 * (out - x) / numel(out) + d_out @ w * (x @ w > 0) @ w.T"
    );
}

#[test]
fn simplification_rules() {
    // transpose_transpose, pow_one, mul_one, add_zero
    assert_eq!(
        lowered("x @ w.T.T; loss (out.pow(1) * 1 + 0).sum()"),
        "sum(out)"
    );
    // neg_neg
    assert_eq!(lowered("x @ w; loss (-(-out)).sum()"), "sum(out)");
    // fold_constants and merge_consts: 2 * (3 * a) = 6 * a
    assert_eq!(
        lowered("x @ w; loss (2 * (3 * out) * (1 + 1)).sum()"),
        "sum(12 * out)"
    );
    // division by a constant is multiplication by its reciprocal
    assert_eq!(lowered("x @ w; loss (out / 4).sum()"), "sum(0.25 * out)");
    // mean is sum over numel, and numel looks through elementwise ops
    assert_eq!(
        lowered("x @ w; loss out.pow(2).mean()"),
        "sum(out^2) / numel(out)"
    );
    // scale_neg, minus_one
    assert_eq!(
        lowered("x @ w; loss (3 * -out + (-1) * out).sum()"),
        "sum(-3 * out - out)"
    );
}

#[test]
fn derivatives_of_elementwise_functions() {
    let d = |f: &str| derivative(&format!("input x: [n, 2]; {f}; loss out.sum()"), "x");
    assert_eq!(d("x.pow(3)"), "3 * x^2");
    assert_eq!(d("sigmoid(x)"), "out * (1 - out)");
    assert_eq!(d("tanh(x)"), "1 - out^2");
    // The derivative of exp is the output itself, spelled out.
    assert_eq!(d("exp(x)"), "exp(x)");
    assert_eq!(d("log(x)"), "1 / x");
    assert_eq!(d("sqrt(x)"), "0.5 / out");
    assert_eq!(d("abs(x)"), "sign(x)");
    assert_eq!(d("softplus(x)"), "sigmoid(x)");
    assert_eq!(d("leaky_relu(x, 0.1)"), "leaky_step(x, 0.1)");
}

#[test]
fn broadcast_gradients_are_reduced_over_broadcast_axes() {
    // A bias row gets the column sums; a declared [n, 1] column gets the row sums.
    let src = "input x: [n, 3]; param c: [n, 1]; x * c + b; loss out.sum()";
    assert_eq!(derivative(src, "b"), "d_out.sum(0)");
    // d_out is all ones here, so d_c is the row sums of x.
    assert_eq!(derivative(src, "c"), "x.sum(1, keepdim)");
    assert_eq!(
        derivative("input x: [n, d]; x.mean(1); loss out.sum()", "x"),
        "expand(d_out / x.shape[1], x)"
    );
}

/// Each stability rewrite fires on the op itself, through a transpose, through a column
/// select and through a `let` binding.
#[test]
fn log_sigmoid_becomes_minus_softplus() {
    let l = |src: &str| lowered(&format!("input x: [n, 2]; {src}"));
    assert_eq!(
        l("x @ w; loss log(sigmoid(out)).sum()"),
        "sum(-softplus(-out))"
    );
    assert_eq!(
        l("x @ w; loss log(sigmoid(out).T).sum()"),
        "sum(-softplus(-out.T))"
    );
    assert_eq!(
        l("x @ w; loss log(sigmoid(out)[:, 0]).sum()"),
        "sum(-softplus(-out[:, 0]))"
    );
    assert_eq!(
        l("let p = sigmoid(x @ w); p; loss log(p).sum()"),
        "sum(-softplus(-(x @ w)))"
    );
}

#[test]
fn log_one_minus_sigmoid_becomes_minus_softplus() {
    let l = |src: &str| lowered(&format!("input x: [n, 2]; {src}"));
    assert_eq!(
        l("x @ w; loss log(1 - sigmoid(out)).sum()"),
        "sum(-softplus(out))"
    );
    assert_eq!(
        l("x @ w; loss log(1 - sigmoid(out).T).sum()"),
        "sum(-softplus(out.T))"
    );
    assert_eq!(
        l("x @ w; loss log((1 - sigmoid(out)).T).sum()"),
        "sum(-softplus(out.T))"
    );
    assert_eq!(
        l("x @ w; loss log(1 - sigmoid(out)[:, 1]).sum()"),
        "sum(-softplus(out[:, 1]))"
    );
    assert_eq!(
        l("let p = sigmoid(x @ w); p; loss log(1 - p).sum()"),
        "sum(-softplus(x @ w))"
    );
}

#[test]
fn bce_of_sigmoid_becomes_bce_logits() {
    let l = |src: &str| lowered(&format!("input x: [n, 2]; {src}"));
    assert_eq!(l("sigmoid(x @ w); loss bce"), "bce_logits(x @ w, y)");
    assert_eq!(
        l("target t: [1, n]; x @ w; loss bce(sigmoid(out).T, t)"),
        "bce_logits(out.T, t)"
    );
    assert_eq!(
        l("target t: [n]; x @ w; loss bce(sigmoid(out)[:, 0], t)"),
        "bce_logits(out[:, 0], t)"
    );
    assert_eq!(
        l("let p = sigmoid(x @ w); p; loss bce(p, y)"),
        "bce_logits(x @ w, y)"
    );
    // The notebook's delta3 = y_hat - y, now from the logits.
    assert_eq!(
        derivative("input x: [n, 2]; sigmoid(x @ w); loss bce", "w"),
        "x.T @ ((out - y) / numel(x @ w))"
    );
}

#[test]
fn log_of_softmax_becomes_log_softmax() {
    let l = |src: &str| lowered(&format!("input x: [n, 2]; {src}"));
    assert_eq!(
        l("x @ w; loss -log(softmax(out, 1)).sum()"),
        "-sum(log_softmax(out, 1))"
    );
    assert_eq!(
        l("x @ w; loss -log(softmax(out, 1).T).sum()"),
        "-sum(log_softmax(out, 1).T)"
    );
    assert_eq!(
        l("x @ w; loss -log(softmax(out, 1)[:, 0]).sum()"),
        "-sum(log_softmax(out, 1)[:, 0])"
    );
    assert_eq!(
        l("let p = softmax(x @ w, 1); p; loss -log(p).mean()"),
        "-(sum(log_softmax(x @ w, 1)) / numel(log_softmax(x @ w, 1)))"
    );
}

/// `cross_entropy`'s gradient is `(softmax(z) - onehot(labels)) / N`, wherever the logits
/// come from.
#[test]
fn cross_entropy_gradient_is_softmax_minus_onehot() {
    let src = "target y; x @ w; loss cross_entropy";
    assert_eq!(
        derivative(src, "out"),
        "(softmax(out, 1) - onehot(y)) / numel(y)"
    );
    let src = "target y; input x: [n, 4]; let z = w @ x.T; z; loss cross_entropy(z.T, y)";
    assert_eq!(
        derivative(src, "z"),
        "((softmax(z.T, 1) - onehot(y)) / numel(y)).T"
    );
}

/// `trace` reports the gradient of every named value, even where a rewrite of the graph
/// the other methods use looks through it.
#[test]
fn named_values_stay_on_the_traced_path() {
    let c =
        super::compile("input x: [n, 2]; let a = (x @ w).T; let b = -a; (-b).T; loss out.sum()");
    let traced = &c.traced;
    for (name, node) in &traced.lets {
        assert!(
            c.traced_adjoint[node.0].is_some(),
            "no gradient for `{name}`"
        );
    }
    // The methods' graph simplifies -(-a) to a and (a.T).T, so its output is x @ w.
    assert_eq!(super::printer(&c).print(c.lowered.outputs[0].1), "x @ w");
}

/// The named losses are functions: composed with a penalty they keep their derivatives,
/// the fused softmax–cross-entropy one included, and the penalty adds its own.
#[test]
fn named_losses_compose_with_penalties() {
    let l2 = "relu(x @ w1 + b1) @ w2 + b2; loss mse(out, y) + 0.01 * (w1 * w1).sum()";
    assert_eq!(derivative(l2, "out"), "2 * (out - y) / numel(out)");
    assert_eq!(
        derivative(l2, "w1"),
        "0.02 * w1 + x.T @ (d_out @ w2.T * (x @ w1 + b1 > 0))"
    );
    let ce = "target labels; relu(x @ w1 + b1) @ w2 + b2;
        loss cross_entropy(out, labels) + 0.5 * 1e-3 * (w2 * w2).sum()";
    assert_eq!(
        derivative(ce, "out"),
        "(softmax(out, 1) - onehot(labels)) / numel(labels)"
    );
    assert_eq!(
        derivative(ce, "w2"),
        "0.001 * w2 + relu(x @ w1 + b1).T @ d_out"
    );
    // `sse` is the sum of squares, PyTorch's `reduction="sum"`; the forum's loss halves it.
    assert_eq!(lowered("x @ w; loss sse"), "sum((out - y)^2)");
    assert_eq!(derivative("x @ w; loss sse", "out"), "2 * (out - y)");
    assert_eq!(
        derivative("x @ w; loss 0.5 * sse(out, y)", "out"),
        "out - y"
    );
    // Two named losses of two outputs' parts, each with its own meaning.
    let two = "x @ w; loss mse(out[:, 0], y) + l1(out[:, 1], y)";
    // Each mean is over the rows, the length of an axis of `x`, as the derivation names it.
    assert_eq!(
        derivative(two, "out"),
        "scatter(sign(out[:, 1] - y) / x.shape[0], out, column=1) + scatter(2 * (out[:, 0] - y) / x.shape[0], out, column=0)"
    );
}

#[test]
fn gather_picks_a_column_of_labelled_elements() {
    // PyTorch's `gather(1, labels)` with the labels as a column: the same picked elements
    // as `[range(n), labels]`, kept as a column.
    let picked =
        "input x: [n, 3]; target y; log_softmax(x @ w); loss -log_softmax(out)[range(n), y].mean()";
    let want = derivative(picked, "w");
    for labels in ["y.view(-1, 1)", "y.reshape(-1, 1)", "y.unsqueeze(1)", "y"] {
        let src = format!("input x: [n, 3]; target y; log_softmax(x @ w); loss -log_softmax(out).gather(1, {labels}).mean()");
        assert_eq!(derivative(&src, "w"), want, "{src}");
        assert!(
            lowered(&src).contains("sum(1, keepdim)"),
            "{}",
            lowered(&src)
        );
    }
    let errs = super::errors("input x: [n, 3]; target y; x @ w; loss -out.gather(0, y).mean()");
    assert!(
        errs[0].starts_with("`gather` picks along the columns"),
        "{errs:?}"
    );
}
