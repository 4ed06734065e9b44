//! Models with several inputs, scalar parameters and residual connections, written as a
//! one-liner and in full, against finite differences of their own loss.

use backprop::GradCheck;
use ndarray::{Array, Array2, Dimension};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

backprop::model! { struct ScalarShort; s * relu(x @ w) + t; loss mse }
backprop::model! {
    struct ScalarFull;
    input x: [n, 4];
    target y: [n, 3];
    param w: [4, 3], s: [], t: [];
    s * relu(x @ w) + t;
    loss mse
}
backprop::model! { struct TwoShort; input a, b; relu(a @ w1 + b @ w2); loss mse }
backprop::model! {
    struct TwoFull;
    input a: [n, 3], b: [n, 2];
    target y: [n, 4];
    param w1: [3, 4], w2: [2, 4];
    let h = relu(a @ w1 + b @ w2);
    h;
    loss mse
}
backprop::model! { struct Residual; x + relu(x @ w1 + b1) @ w2; loss mse }

fn random<D: Dimension>(rng: &mut ChaCha8Rng, shape: D) -> Array<f64, D> {
    Array::from_shape_simple_fn(shape, || rng.random_range(-1.0..1.0))
}

/// Asserts that the analytic gradient `g` of `f` at `at` passes the checker.
fn check<D: Dimension>(
    what: &str,
    f: impl FnMut(&Array<f64, D>) -> f64,
    at: &Array<f64, D>,
    g: &Array<f64, D>,
) {
    let report = GradCheck::default().check(f, at, g).unwrap();
    assert!(report.passed, "{what}: {report:?}");
}

#[test]
fn scalar_parameters_one_liner_and_full() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x: Array2<f64> = random(&mut rng, ndarray::Dim([6, 4]));
    let y: Array2<f64> = random(&mut rng, ndarray::Dim([6, 3]));
    // The one-liner makes `s` a scalar (it scales a tensor) and `t` a bias row; a scalar
    // is a plain number, and the checker finds it by name as the others.
    let m = ScalarShort::init(1, [4, 3], [3]).unwrap();
    let s: f64 = m.s;
    assert_eq!(m.t.ndim(), 1);
    let (_, g, inputs) = m.grad_with_inputs(&x, &y).unwrap();
    assert!(g.s != 0.0 && s != 0.0);
    let reports = GradCheck::default()
        .check_params(&m, |m| m.loss(&x, &y).unwrap(), &g)
        .unwrap();
    let names: Vec<&str> = reports.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["s", "w", "t"]);
    for (name, report) in &reports {
        assert!(report.passed, "{name}: {report:?}");
    }
    check("x", |v| m.loss(v, &y).unwrap(), &x, &inputs.x);

    // Declared `[]`, both are scalars, given and read as numbers.
    let m = ScalarFull::init(2).unwrap();
    let m = ScalarFull::new(m.w, 0.5, -0.25).unwrap();
    let (_, g) = m.grad(&x, &y).unwrap();
    let (gs, gt): (f64, f64) = (g.s, g.t);
    assert!(gs.is_finite() && gt.is_finite());
    for (name, report) in GradCheck::default()
        .check_params(&m, |m| m.loss(&x, &y).unwrap(), &g)
        .unwrap()
    {
        assert!(report.passed, "{name}: {report:?}");
    }
}

#[test]
fn two_inputs_one_liner_and_full() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let a: Array2<f64> = random(&mut rng, ndarray::Dim([5, 3]));
    let b: Array2<f64> = random(&mut rng, ndarray::Dim([5, 2]));
    let y: Array2<f64> = random(&mut rng, ndarray::Dim([5, 4]));
    let short = TwoShort::init(3, [3, 4], [2, 4]).unwrap();
    let full = TwoFull::new(short.w1.clone(), short.w2.clone()).unwrap();
    let (loss, g, inputs) = short.grad_with_inputs(&a, &b, &y).unwrap();
    let (full_loss, full_g, full_inputs) = full.grad_with_inputs(&a, &b, &y).unwrap();
    assert_eq!(loss, full_loss);
    assert_eq!((&g.w1, &g.w2), (&full_g.w1, &full_g.w2));
    assert_eq!((&inputs.a, &inputs.b), (&full_inputs.a, &full_inputs.b));
    let with = |f: &dyn Fn(&mut TwoShort<f64>)| {
        let mut moved = short.clone();
        f(&mut moved);
        moved.loss(&a, &b, &y).unwrap()
    };
    check("w1", |v| with(&|m| m.w1 = v.clone()), &short.w1, &g.w1);
    check("w2", |v| with(&|m| m.w2 = v.clone()), &short.w2, &g.w2);
    check("a", |v| short.loss(v, &b, &y).unwrap(), &a, &inputs.a);
    check("b", |v| short.loss(&a, v, &y).unwrap(), &b, &inputs.b);
}

#[test]
fn residual_connection() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let x: Array2<f64> = random(&mut rng, ndarray::Dim([6, 3]));
    let y: Array2<f64> = random(&mut rng, ndarray::Dim([6, 3]));
    let m = Residual::init(4, [3, 5], [5], [5, 3]).unwrap();
    let (_, g, inputs) = m.grad_with_inputs(&x, &y).unwrap();
    let with = |f: &dyn Fn(&mut Residual<f64>)| {
        let mut moved = m.clone();
        f(&mut moved);
        moved.loss(&x, &y).unwrap()
    };
    check("w1", |v| with(&|m| m.w1 = v.clone()), &m.w1, &g.w1);
    check("b1", |v| with(&|m| m.b1 = v.clone()), &m.b1, &g.b1);
    check("w2", |v| with(&|m| m.w2 = v.clone()), &m.w2, &g.w2);
    // x reaches the loss directly and through the block: both paths are summed.
    check("x", |v| m.loss(v, &y).unwrap(), &x, &inputs.x);
}

// Parameters are drawn in the order `new` takes them: the declared ones first.
backprop::model! { struct Drawn; param w1, w2; relu(x @ w1 + b1) @ w2 + b2; loss mse }
backprop::model! {
    struct Declared;
    input x: [n, 3];
    param w1: [3, 5], w2: [5, 2], s: [];
    s * relu(x @ w1 + b1) @ w2 + b2;
    loss mse
}
backprop::model! {
    struct Sized;
    input x: [n, 3];
    param w1: [3, nh], w2: [nh, 2];
    relu(x @ w1 + b1) @ w2 + b2;
    loss mse
}

#[test]
fn init_takes_only_what_the_text_leaves_open() {
    // The same generator, drawing the same shapes in the same order: the same numbers.
    let drawn = Drawn::<f64>::init(7, [3, 5], [5, 2], [5], [2]).unwrap();
    let declared = Declared::<f64>::init(7).unwrap();
    let sized = Sized::<f64>::init(7, SizedDims { nh: 5 }).unwrap();
    for (name, a, b, c) in [
        ("w1", &drawn.w1, &declared.w1, &sized.w1),
        ("w2", &drawn.w2, &declared.w2, &sized.w2),
    ] {
        assert_eq!(a.shape(), b.shape(), "{name}");
        assert_eq!(a, c, "{name}");
    }
    assert_eq!(sized.b1, drawn.b1);
    assert_eq!(sized.b2, drawn.b2);
    assert_eq!(declared.b1.shape(), [5]);
    assert_eq!(declared.b2.shape(), [2]);
    // A scalar is one number, drawn in `±1`: no fan-in to scale it.
    assert!(declared.s.abs() <= 1.0 && declared.s != 0.0);
    // A named dim of another length gives other shapes.
    let wide = Sized::<f64>::init(7, SizedDims { nh: 9 }).unwrap();
    assert_eq!(
        (wide.w1.shape(), wide.b1.shape()),
        ([3, 9].as_slice(), [9].as_slice())
    );
}

// Combined only elementwise: the parameters are numbers, the input and target batches of
// numbers, and nothing is declared.
backprop::model! { struct Rational; (x * a + b) / (c * c + 1); loss mse }

#[test]
fn an_elementwise_model_needs_no_declarations() {
    let (a, b, c) = (0.5, -0.2, 0.3);
    let m = Rational::new(a, b, c).unwrap();
    let x = ndarray::array![1.0, -2.0, 0.5, 3.0];
    let y = ndarray::array![0.1, 0.4, -0.3, 1.2];
    let (loss, g) = m.grad(&x, &y).unwrap();
    // By hand: f = (x a + b) / q with q = c² + 1, L = mean((f − y)²).
    let q: f64 = c * c + 1.0;
    let n = x.len() as f64;
    let f = (&x * a + b) / q;
    let e = &f - &y;
    let expect_loss = e.mapv(|v| v * v).sum() / n;
    let d_a = (2.0 * &e * &x).sum() / n / q;
    let d_b = (2.0 * &e).sum() / n / q;
    let d_c = (2.0 * &e * (&x * a + b)).sum() / n * (-2.0 * c / (q * q));
    let close = |got: f64, want: f64| (got - want).abs() <= 1e-12 * want.abs().max(1.0);
    assert!(close(loss, expect_loss), "{loss} vs {expect_loss}");
    let (ga, gb, gc): (f64, f64, f64) = (g.a, g.b, g.c);
    assert!(close(ga, d_a) && close(gb, d_b) && close(gc, d_c), "{g:?}");
    assert_eq!(m.forward(&x).unwrap(), f);
}
