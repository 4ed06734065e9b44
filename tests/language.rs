//! Models written as public examples write them, compiled as written, against PyTorch's
//! float64 autograd (`tests/data/language.py`): an all-scalar expression with no
//! declarations, a network written unit by unit with two outputs, named losses composed
//! with L2 penalties, a cubic fit with nothing declared, and `sse` bare and halved. Values
//! to 1e-10 relative in f64 (1e-4 in f32), and the workspace path to the plain path's.
#![deny(warnings)]

mod common;

use backprop::Float;
use common::{assert_close, assert_scalar_close, Golden};
use ndarray::{Array1, Array2, IxDyn};

const JSON: &str = include_str!("data/language.json");

backprop::model! {
    /// micrograd's README expression: scalars from end to end, nothing declared.
    pub struct Micro;
    let c1 = a + b;
    let d1 = a * b + b**3;
    let c2 = c1 + c1 + 1;
    let c3 = c2 + 1 + c2 + (-a);
    let d2 = d1 + d1 * 2 + (b + a).relu();
    let d3 = d2 + 3 * d2 + (b - a).relu();
    let e = c3 - d3;
    let f = e**2;
    f / 2.0 + 10.0 / f;
    loss out
}

backprop::model! {
    /// Two inputs, two hidden units, two outputs, each unit written out, each layer's
    /// units sharing a bias.
    pub struct Units;
    input i1, i2;
    target t1, t2;
    let h1 = sigmoid(w1 * i1 + w2 * i2 + b1);
    let h2 = sigmoid(w3 * i1 + w4 * i2 + b1);
    let o1 = sigmoid(w5 * h1 + w6 * h2 + b2);
    let o2 = sigmoid(w7 * h1 + w8 * h2 + b2);
    (o1, o2);
    loss 0.5 * (t1 - o1)**2 + 0.5 * (t2 - o2)**2
}

backprop::model! {
    pub struct Spiral;
    target labels;
    relu(x @ w1 + b1) @ w2 + b2;
    loss cross_entropy(out, labels) + 0.5 * 1e-3 * (w1 * w1).sum() + 0.5 * 1e-3 * (w2 * w2).sum()
}

backprop::model! { pub struct MseL2; relu(x @ w1 + b1) @ w2 + b2; loss mse(out, y) + 0.01 * (w1 * w1).sum() }
backprop::model! { pub struct Cubic; a + b * x + c * x ** 2 + d * x ** 3; loss sse }
backprop::model! { pub struct Sse; x @ w + b; loss sse }
backprop::model! { pub struct HalfSse; x @ w + b; loss 0.5 * sse(out, y) }
backprop::model! {
    /// PyTorch's `F.nll_loss(F.log_softmax(x @ w + b, 1), labels)`, with a penalty.
    pub struct Nll;
    input x: [n, 3];
    target labels;
    log_softmax(x @ w + b);
    loss nll(out, labels) + 0.01 * (w * w).sum()
}
backprop::model! { pub struct NllBare; input x: [n, 3]; target y; log_softmax(x @ w + b); loss nll }
backprop::model! { pub struct Ce; input x: [n, 3]; target y; x @ w + b; loss cross_entropy }

fn tols<A>() -> (f64, f64) {
    if std::mem::size_of::<A>() == 8 {
        (1e-10, 1e-12)
    } else {
        (1e-4, 1e-5)
    }
}

#[test]
fn an_all_scalar_expression_needs_no_declaration() {
    fn check<A: Float>() {
        let (tol, _) = tols::<A>();
        let g = Golden::from_json(JSON, "micrograd");
        let m = Micro::<A>::new(A::cst(-4.0), A::cst(2.0)).unwrap();
        let (loss, grads) = m.grad().unwrap();
        // micrograd prints 24.7041, 138.8338 and 645.5773.
        assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
        let (da, db): (A, A) = (grads.a, grads.b);
        assert_close("d_a", &da, &g.grad::<A, IxDyn>("a"), tol);
        assert_close("d_b", &db, &g.grad::<A, IxDyn>("b"), tol);
        assert_eq!(m.forward().unwrap(), loss);
        let trace = m.trace().unwrap();
        assert_eq!((trace.out, trace.grads), (loss, grads));
        assert_eq!(trace.d_out, A::one());
    }
    check::<f64>();
    check::<f32>();
    assert!((Golden::from_json(JSON, "micrograd").loss() - 24.7041).abs() < 1e-4);
}

#[test]
fn a_network_written_unit_by_unit_has_two_outputs() {
    fn check<A: Float>() {
        let (tol, fused_tol) = tols::<A>();
        let g = Golden::from_json(JSON, "units");
        let v = |n: &str| g.value::<A, A>(n);
        // `new` takes the parameters in the order they first appear.
        let m = Units::<A>::new(
            v("w1"),
            v("w2"),
            v("b1"),
            v("w3"),
            v("w4"),
            v("w5"),
            v("w6"),
            v("b2"),
            v("w7"),
            v("w8"),
        )
        .unwrap();
        let (i1, i2, t1, t2) = (v("i1"), v("i2"), v("t1"), v("t2"));
        let (o1, o2) = m.forward(i1, i2).unwrap();
        assert_scalar_close("o1", o1.as_f64(), g.outputs(0)[0], tol);
        assert_scalar_close("o2", o2.as_f64(), g.outputs(1)[0], tol);
        let (loss, grads, inputs) = m.grad_with_inputs(i1, i2, t1, t2).unwrap();
        assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
        let got = [
            ("w1", grads.w1),
            ("w2", grads.w2),
            ("b1", grads.b1),
            ("w3", grads.w3),
            ("w4", grads.w4),
            ("w5", grads.w5),
            ("w6", grads.w6),
            ("b2", grads.b2),
            ("w7", grads.w7),
            ("w8", grads.w8),
            ("i1", inputs.i1),
            ("i2", inputs.i2),
        ];
        for (name, d) in got {
            assert_close(name, &d, &g.grad::<A, IxDyn>(name), tol);
        }
        let trace = m.trace(i1, i2, t1, t2).unwrap();
        assert_eq!((trace.o1, trace.o2), (o1, o2));
        let mut ws = m.workspace();
        let (fused_loss, fused) = m.grad_in(&mut ws, i1, i2, t1, t2).unwrap();
        assert_scalar_close("grad_in", fused_loss.as_f64(), loss.as_f64(), fused_tol);
        assert_close("grad_in's d_w5", &fused.w5, &grads.w5, fused_tol);
        // One step at the example's rate of 0.5 moves w5 to 0.35891648.
        let mut stepped = m.clone();
        stepped.step(&mut ws, i1, i2, t1, t2, A::cst(0.5)).unwrap();
        assert!((stepped.w5.as_f64() - 0.35891648).abs() < 1e-4 * 0.36);
    }
    check::<f64>();
    check::<f32>();
}

#[test]
fn named_losses_compose_with_l2_penalties() {
    fn spiral<A: Float>() {
        let (tol, fused_tol) = tols::<A>();
        let g = Golden::from_json(JSON, "spiral");
        let m =
            Spiral::<A>::new(g.value("w1"), g.value("b1"), g.value("w2"), g.value("b2")).unwrap();
        let x: Array2<A> = g.value("x");
        let labels: Array1<usize> = g.tensor::<f64, ndarray::Ix1>("labels").mapv(|l| l as usize);
        let out = m.forward(&x).unwrap();
        assert_close("scores", &out, &g.out::<A, IxDyn>(out.shape()), tol);
        let (loss, grads, inputs) = m.grad_with_inputs(&x, &labels).unwrap();
        assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
        g.assert_grads(&grads, tol);
        assert_close("d_x", &inputs.x, &g.grad::<A, IxDyn>("x"), tol);
        let mut ws = m.workspace();
        let (_, fused) = m.grad_in(&mut ws, &x, &labels).unwrap();
        assert_close("grad_in's d_w1", &fused.w1, &grads.w1, fused_tol);
        assert_close("grad_in's d_w2", &fused.w2, &grads.w2, fused_tol);
    }
    fn mse_l2<A: Float>() {
        let (tol, fused_tol) = tols::<A>();
        let g = Golden::from_json(JSON, "mse_l2");
        let m =
            MseL2::<A>::new(g.value("w1"), g.value("b1"), g.value("w2"), g.value("b2")).unwrap();
        let (x, y): (Array2<A>, Array2<A>) = (g.value("x"), g.value("y"));
        let (loss, grads, inputs) = m.grad_with_inputs(&x, &y).unwrap();
        assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
        g.assert_grads(&grads, tol);
        assert_close("d_x", &inputs.x, &g.grad::<A, IxDyn>("x"), tol);
        let mut ws = m.workspace();
        let (mut stepped, mut by_hand) = (m.clone(), m.clone());
        stepped.step(&mut ws, &x, &y, A::cst(0.1)).unwrap();
        by_hand.sgd(&grads, A::cst(0.1)).unwrap();
        assert_close("step's w1", &stepped.w1, &by_hand.w1, fused_tol);
    }
    spiral::<f64>();
    spiral::<f32>();
    mse_l2::<f64>();
    mse_l2::<f32>();
}

#[test]
fn a_cubic_fit_needs_no_declaration() {
    fn check<A: Float>() {
        let (tol, _) = tols::<A>();
        let g = Golden::from_json(JSON, "cubic");
        // Scalar coefficients, and x and y a batch of numbers.
        let m = Cubic::<A>::new(g.value("a"), g.value("b"), g.value("c"), g.value("d")).unwrap();
        let (x, y): (Array1<A>, Array1<A>) = (g.value("x"), g.value("y"));
        let out = m.forward(&x).unwrap();
        assert_close("y_pred", &out, &g.out::<A, IxDyn>(out.shape()), tol);
        let (loss, grads) = m.grad(&x, &y).unwrap();
        assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
        g.assert_grads(&grads, tol);
    }
    check::<f64>();
    check::<f32>();
}

#[test]
fn sse_is_the_sum_of_squares_and_halves_as_written() {
    fn check<A: Float>() {
        let (tol, _) = tols::<A>();
        for case in ["sse", "half_sse"] {
            let g = Golden::from_json(JSON, case);
            let (x, y): (Array2<A>, Array2<A>) = (g.value("x"), g.value("y"));
            let (loss, dw, db, dx) = if case == "sse" {
                let m = Sse::<A>::new(g.value("w"), g.value("b")).unwrap();
                let (l, gr, i) = m.grad_with_inputs(&x, &y).unwrap();
                (l, gr.w, gr.b, i.x)
            } else {
                let m = HalfSse::<A>::new(g.value("w"), g.value("b")).unwrap();
                let (l, gr, i) = m.grad_with_inputs(&x, &y).unwrap();
                (l, gr.w, gr.b, i.x)
            };
            assert_scalar_close(case, loss.as_f64(), g.loss(), tol);
            assert_close("d_w", &dw, &g.grad::<A, IxDyn>("w"), tol);
            assert_close("d_b", &db, &g.grad::<A, IxDyn>("b"), tol);
            assert_close("d_x", &dx, &g.grad::<A, IxDyn>("x"), tol);
        }
    }
    check::<f64>();
    check::<f32>();
}

#[test]
fn nll_of_log_softmax_is_cross_entropy() {
    fn check<A: Float>() {
        let (tol, _) = tols::<A>();
        let g = Golden::from_json(JSON, "nll");
        let (w, b): (Array2<A>, Array1<A>) = (g.value("w"), g.value("b"));
        let x: Array2<A> = g.value("x");
        let labels: Array1<usize> = g.tensor::<f64, ndarray::Ix1>("labels").mapv(|l| l as usize);
        let m = Nll::<A>::new(w.clone(), b.clone()).unwrap();
        let out = m.forward(&x).unwrap();
        assert_close("log_p", &out, &g.out::<A, IxDyn>(out.shape()), tol);
        let (loss, grads, inputs) = m.grad_with_inputs(&x, &labels).unwrap();
        assert_scalar_close("loss", loss.as_f64(), g.loss(), tol);
        g.assert_grads(&grads, tol);
        assert_close("d_x", &inputs.x, &g.grad::<A, IxDyn>("x"), tol);
        // Bare, it is the cross-entropy of the logits, gradients and all.
        let (bare, bare_grads) = NllBare::<A>::new(w.clone(), b.clone())
            .unwrap()
            .grad(&x, &labels)
            .unwrap();
        let (ce, ce_grads) = Ce::<A>::new(w, b).unwrap().grad(&x, &labels).unwrap();
        assert_scalar_close("nll vs cross_entropy", bare.as_f64(), ce.as_f64(), tol);
        assert_close("d_w", &bare_grads.w, &ce_grads.w, tol);
        assert_close("d_b", &bare_grads.b, &ce_grads.b, tol);
        // A label past the classes is an error naming it, not a panic.
        let wrong = ndarray::array![0usize, 4, 1, 3, 2];
        let err = m.loss(&x, &wrong).unwrap_err().to_string();
        assert!(err.contains("labels"), "{err}");
    }
    check::<f64>();
    check::<f32>();
}
