//! The activations added one table entry each (silu, gelu and gelu_tanh, elu, log_sigmoid)
//! against PyTorch's float64 autograd in every generated method: the output, the loss and
//! every gradient to 1e-10, the workspace path to 1e-12; in f32 to 1e-4; and against
//! finite differences. Their derivations name their derivative as a function of its own.
#![deny(warnings)]

mod common;

use backprop::Float;
use common::{assert_close, assert_scalar_close, Golden};
use ndarray::{Array1, Array2};

const JSON: &str = include_str!("data/activations.json");

backprop::model! { struct Silu; silu(x @ w1 + b1) @ w2 + b2; loss mse }
backprop::model! { struct Gelu; gelu(x @ w1 + b1) @ w2 + b2; loss mse }
backprop::model! { struct GeluTanh; gelu_tanh(x @ w1 + b1) @ w2 + b2; loss mse }
backprop::model! { struct Elu; elu(x @ w1 + b1, 0.7) @ w2 + b2; loss mse }
backprop::model! { struct EluDefault; elu(x @ w1 + b1) @ w2 + b2; loss mse }
backprop::model! { struct LogSigmoid; log_sigmoid(x @ w1 + b1) @ w2 + b2; loss mse }

/// A test of `$model` against the case `$case`: every method's values against PyTorch's,
/// in f64 and f32, and the gradients against finite differences.
macro_rules! against_torch {
    ($test:ident: $model:ident, $case:literal) => {
        #[test]
        fn $test() {
            fn check<A: Float>(tol: f64, fused_tol: f64) {
                let g = Golden::from_json(JSON, $case);
                let t = |n: &str| g.tensor::<A, ndarray::Ix2>(n);
                let v = |n: &str| g.tensor::<A, ndarray::Ix1>(n);
                let m = $model::<A>::new(t("w1"), v("b1"), t("w2"), v("b2")).unwrap();
                let (x, y): (Array2<A>, Array2<A>) = (t("x"), t("y"));
                let out = m.forward(&x).unwrap();
                assert_close("out", &out, &g.out::<_, ndarray::IxDyn>(out.shape()), tol);
                assert_scalar_close("loss", m.loss(&x, &y).unwrap().as_f64(), g.loss(), tol);
                let (loss, grads, inputs) = m.grad_with_inputs(&x, &y).unwrap();
                assert_scalar_close("grad's loss", loss.as_f64(), g.loss(), tol);
                assert_close("d_w1", &grads.w1, &g.grad::<A, ndarray::IxDyn>("w1"), tol);
                assert_close("d_b1", &grads.b1, &g.grad::<A, ndarray::IxDyn>("b1"), tol);
                assert_close("d_w2", &grads.w2, &g.grad::<A, ndarray::IxDyn>("w2"), tol);
                assert_close("d_b2", &grads.b2, &g.grad::<A, ndarray::IxDyn>("b2"), tol);
                assert_close("d_x", &inputs.x, &g.grad::<A, ndarray::IxDyn>("x"), tol);
                assert_eq!(m.grad(&x, &y).unwrap().1, grads);
                let trace = m.trace(&x, &y).unwrap();
                assert_eq!((trace.out, trace.grads), (out, grads.clone()));
                let mut ws = m.workspace();
                let (_, fused) = m.grad_in(&mut ws, &x, &y).unwrap();
                let fused: Array1<A> = fused.b1.clone();
                assert_close("grad_in's d_b1", &fused, &grads.b1, fused_tol);
                let (mut stepped, mut by_hand) = (m.clone(), m.clone());
                stepped.step(&mut ws, &x, &y, A::cst(0.1)).unwrap();
                by_hand.sgd(&grads, A::cst(0.1)).unwrap();
                assert_close("step", &stepped.w1, &by_hand.w1, fused_tol);
            }
            check::<f64>(1e-10, 1e-12);
            check::<f32>(1e-4, 1e-5);
            let g = Golden::from_json(JSON, $case);
            let t = |n: &str| g.tensor::<f64, ndarray::Ix2>(n);
            let v = |n: &str| g.tensor::<f64, ndarray::Ix1>(n);
            let m = $model::<f64>::new(t("w1"), v("b1"), t("w2"), v("b2")).unwrap();
            let (x, y) = (t("x"), t("y"));
            let numeric = common::numeric_grads(&m, |m| m.loss(&x, &y).unwrap());
            common::assert_grads_match($case, &m.grad(&x, &y).unwrap().1, &numeric);
        }
    };
}

against_torch!(silu_is_pytorchs: Silu, "silu");
against_torch!(gelu_is_pytorchs_exact_form: Gelu, "gelu");
against_torch!(gelu_tanh_is_pytorchs_tanh_form: GeluTanh, "gelu_tanh");
against_torch!(elu_is_pytorchs: Elu, "elu");
against_torch!(elu_defaults_to_alpha_one: EluDefault, "elu_default");
against_torch!(log_sigmoid_is_pytorchs: LogSigmoid, "log_sigmoid");

/// Each derivative is a line of its own, under its own rule, as short as `relu`'s.
#[test]
fn derivations_name_each_derivative() {
    for (derivation, line, rule) in [
        (Silu::DERIVATION, "δz1 = δh1 ⊙ silu'(z1)", "[silu']"),
        (Gelu::DERIVATION, "δz1 = δh1 ⊙ gelu'(z1)", "[gelu']"),
        (
            GeluTanh::DERIVATION,
            "δz1 = δh1 ⊙ gelu_tanh'(z1)",
            "[gelu_tanh']",
        ),
        (Elu::DERIVATION, "δz1 = δh1 ⊙ elu'(z1, 0.7)", "[elu']"),
        (EluDefault::DERIVATION, "δz1 = δh1 ⊙ elu'(z1, 1)", "[elu']"),
        (
            LogSigmoid::DERIVATION,
            "δz1 = δh1 ⊙ σ(−z1)",
            "[log_sigmoid']",
        ),
    ] {
        let found = derivation
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("no `{line}` in\n{derivation}"));
        assert!(found.ends_with(rule), "`{found}` is not under {rule}");
        assert!(found.chars().count() < 50, "`{found}` is long");
    }
    assert!(Silu::DERIVATION.contains("h1 = silu(z1)"));
    assert!(Gelu::DERIVATION_LATEX.contains(r"\operatorname{gelu}'\left(z_{1}\right)"));
    // The code calls the runtime's derivative.
    assert!(Silu::CODE.contains("rt::scalar::silu_grad(z1)"));
}
