//! Every golden case whose ops the language has, written with `model!`, against
//! PyTorch's loss and gradients (float64 autograd): to 1e-10 relative in f64 and 1e-4
//! in f32. The workspace path (`grad_in`, `step`) gives the plain path's values to 1e-12:
//! its gradients, and the parameters after three steps against `grad` then `sgd`.

mod common;

use backprop::Float;
use common::{assert_close, assert_scalar_close, Golden};
use ndarray::{Array, Array1, Array2, Ix1, Ix2, IxDyn};

const F64_TOL: f64 = 1e-10;
const F32_TOL: f64 = 1e-4;
/// How far the fused workspace path may be from the plain path: the same arithmetic up to
/// the order of a few sums.
const FUSED_TOL: f64 = 1e-12;
const FUSED_F32_TOL: f64 = 1e-5;

backprop::model! { struct FastaiMlp; relu(x @ w1 + b1) @ w2 + b2; loss (out[:, 0] - y).pow(2).mean() }
backprop::model! { struct MseFull; relu(x @ w1 + b1) @ w2 + b2; loss mse }
backprop::model! {
    struct Nugues;
    let z1 = x @ fc1.T;
    let z2 = z1 @ fc2.T;
    let z3 = z2 @ fc3.T;
    sigmoid(z3);
    loss bce
}
backprop::model! {
    struct Hello;
    let h = sigmoid(x @ w_l1.T + b_l1);
    sigmoid(h @ w_l2.T + b_l2);
    loss mse
}
backprop::model! { struct Seed000Column; w4 @ w3 @ w2 @ w1 @ x; loss 0.5 * ((y - out) ** 2).sum() }
backprop::model! { struct BceLogits; let z = x @ w + b; z; loss (softplus(z) - y * z).mean() }
backprop::model! { struct Tied; relu(x @ w) @ w.T; loss mse(out, x) }
backprop::model! { struct SoftmaxCe; target labels; relu(x @ w1 + b1) @ w2 + b2; loss cross_entropy }
backprop::model! { struct ScalarParam; param s: [], t: []; s * relu(x @ w) + t; loss mse }

/// A test that builds `$model` from a golden case's parameters, takes the gradients for
/// its arguments, and compares the loss and every gradient PyTorch has (parameters and
/// inputs), in f64 and in f32.
macro_rules! golden {
    ($test:ident: $model:ident, $case:literal, params($($p:ident),*), args($($a:ident: $d:ty),*), inputs($($i:ident),*)) => {
        #[test]
        fn $test() {
            fn check<A: Float>(tol: f64) {
                let g = Golden::load($case);
                let m = $model::<A>::new($(g.value(stringify!($p))),*).unwrap();
                $(let $a: Array<A, $d> = g.tensor(stringify!($a));)*
                let (loss, grads, inputs) = m.grad_with_inputs($(&$a),*).unwrap();
                assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
                $(assert_close(stringify!($p), &grads.$p, &g.grad::<A, IxDyn>(stringify!($p)), tol);)*
                $(assert_close(stringify!($i), &inputs.$i, &g.grad::<A, IxDyn>(stringify!($i)), tol);)*
                let compared = [$(stringify!($p),)* $(stringify!($i),)*];
                assert_eq!(compared.len(), g.grad_names().len(), "every gradient is compared");
                // The workspace path, twice: sizing its buffers, then reusing them.
                let mut ws = m.workspace();
                let tol = if std::mem::size_of::<A>() == 8 { FUSED_TOL } else { FUSED_F32_TOL };
                for _ in 0..2 {
                    let (fused_loss, fused) = m.grad_in(&mut ws, $(&$a),*).unwrap();
                    assert_scalar_close("fused loss", fused_loss.as_f64(), loss.as_f64(), tol);
                    $(assert_close(concat!("fused ", stringify!($p)), &fused.$p, &grads.$p, tol);)*
                }
                // `step`, whose updates may be fused into the gradient's product, moves
                // every parameter as `grad` then `sgd` do, over three steps.
                let lr = A::cst(0.1);
                let (mut stepped, mut by_hand) = (m.clone(), m.clone());
                for _ in 0..3 {
                    let step_loss = stepped.step(&mut ws, $(&$a,)* lr).unwrap();
                    let (want_loss, g) = by_hand.grad($(&$a),*).unwrap();
                    by_hand.sgd(&g, lr).unwrap();
                    assert_scalar_close("step loss", step_loss.as_f64(), want_loss.as_f64(), tol);
                    $(assert_close(concat!("stepped ", stringify!($p)), &stepped.$p, &by_hand.$p, tol);)*
                }
            }
            check::<f64>(F64_TOL);
            check::<f32>(F32_TOL);
        }
    };
}

golden!(fastai_mlp_matches_pytorch: FastaiMlp, "fastai_mlp", params(w1, b1, w2, b2), args(x: Ix2, y: Ix1), inputs(x));
golden!(mse_full_matches_pytorch: MseFull, "mse_full", params(w1, b1, w2, b2), args(x: Ix2, y: Ix2), inputs(x));
golden!(nugues_single_matches_pytorch: Nugues, "nugues_single", params(fc1, fc2, fc3), args(x: Ix2, y: Ix2), inputs(x));
golden!(nugues_batch_matches_pytorch: Nugues, "nugues_batch", params(fc1, fc2, fc3), args(x: Ix2, y: Ix2), inputs(x));
golden!(hello_matches_pytorch: Hello, "hello", params(w_l1, b_l1, w_l2, b_l2), args(x: Ix2, y: Ix2), inputs(x));
golden!(seed000_column_matches_pytorch: Seed000Column, "seed000_column", params(w4, w3, w2, w1), args(x: Ix2, y: Ix2), inputs(x));
golden!(bce_logits_matches_pytorch: BceLogits, "bce_logits", params(w, b), args(x: Ix2, y: Ix2), inputs(x));
golden!(scalar_param_matches_pytorch: ScalarParam, "scalar_param", params(s, t, w), args(x: Ix2, y: Ix2), inputs(x));
golden!(tied_autoencoder_matches_pytorch: Tied, "tied_autoencoder", params(w), args(x: Ix2), inputs(x));

/// Integer class labels are taken as `usize`, as PyTorch takes int64.
#[test]
fn softmax_ce_matches_pytorch() {
    fn check<A: Float>(tol: f64) {
        let g = Golden::load("softmax_ce");
        let m = SoftmaxCe::<A>::new(
            g.tensor("w1"),
            g.tensor("b1"),
            g.tensor("w2"),
            g.tensor("b2"),
        )
        .unwrap();
        let x: Array2<A> = g.tensor("x");
        let labels = g.tensor::<f64, Ix1>("labels").mapv(|v| v as usize);
        let (loss, grads, inputs) = m.grad_with_inputs(&x, &labels).unwrap();
        assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
        assert_close("w1", &grads.w1, &g.grad::<_, ndarray::IxDyn>("w1"), tol);
        assert_close("b1", &grads.b1, &g.grad::<_, ndarray::IxDyn>("b1"), tol);
        assert_close("w2", &grads.w2, &g.grad::<_, ndarray::IxDyn>("w2"), tol);
        assert_close("b2", &grads.b2, &g.grad::<_, ndarray::IxDyn>("b2"), tol);
        assert_close("x", &inputs.x, &g.grad::<_, ndarray::IxDyn>("x"), tol);
        assert_eq!(g.grad_names().len(), 5);
        let mut ws = m.workspace();
        let (fused_loss, fused) = m.grad_in(&mut ws, &x, &labels).unwrap();
        let tol = if std::mem::size_of::<A>() == 8 {
            FUSED_TOL
        } else {
            FUSED_F32_TOL
        };
        assert_scalar_close("fused loss", fused_loss.as_f64(), loss.as_f64(), tol);
        assert_close("fused w1", &fused.w1, &grads.w1, tol);
        assert_close("fused b1", &fused.b1, &grads.b1, tol);
        assert_close("fused w2", &fused.w2, &grads.w2, tol);
        assert_close("fused b2", &fused.b2, &grads.b2, tol);
    }
    check::<f64>(F64_TOL);
    check::<f32>(F32_TOL);
}

/// `grad` gives the same parameter gradients as `grad_with_inputs`, and `loss` the same
/// loss, though each computes only what it returns.
#[test]
fn methods_agree() {
    let g = Golden::load("fastai_mlp");
    let m = FastaiMlp::<f64>::new(
        g.tensor("w1"),
        g.tensor("b1"),
        g.tensor("w2"),
        g.tensor("b2"),
    )
    .unwrap();
    let (x, y): (Array2<f64>, Array1<f64>) = (g.tensor("x"), g.tensor("y"));
    let (loss, grads) = m.grad(&x, &y).unwrap();
    let (loss2, grads2, _) = m.grad_with_inputs(&x, &y).unwrap();
    assert_eq!(loss, loss2);
    assert_eq!(grads, grads2);
    assert_eq!(m.loss(&x, &y).unwrap(), loss);
    let trace = m.trace(&x, &y).unwrap();
    assert_eq!(trace.out, m.forward(&x).unwrap());
    assert_eq!(trace.grads, grads);
}
