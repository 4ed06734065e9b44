//! The finite-difference checker on generated models and on hand-written gradients, and
//! seed 000's story: a hand-written backward with a flipped sign, which the checker
//! catches and which makes training diverge, where the generated gradient descends.

use backprop::{numeric_gradient, GradCheck};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

backprop::model! {
    /// The forum's network, column-major as its numpy version: x is [in, batch],
    /// w_i is [out, in], no bias, no activation; the loss is 0.5 * sum(e^2).
    pub struct Seed000;
    w4 @ w3 @ w2 @ w1 @ x;
    loss 0.5 * sse(out, y)
}

backprop::model! { pub struct Lesson; relu(x @ w1 + b1) @ w2 + b2; loss (out[:, 0] - y).pow(2).mean() }

fn uniform(rng: &mut ChaCha8Rng, shape: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_simple_fn(shape, || rng.random::<f64>())
}

/// The forum's numpy backward pass; `flipped` is its `e4 = y_target - y4`.
fn hand_written(
    m: &Seed000<f64>,
    x: &Array2<f64>,
    y: &Array2<f64>,
    flipped: bool,
) -> [Array2<f64>; 4] {
    let y1 = m.w1.dot(x);
    let y2 = m.w2.dot(&y1);
    let y3 = m.w3.dot(&y2);
    let y4 = m.w4.dot(&y3);
    let e4 = if flipped { y - &y4 } else { &y4 - y };
    let e3 = m.w4.t().dot(&e4);
    let e2 = m.w3.t().dot(&e3);
    let e1 = m.w2.t().dot(&e2);
    [
        e1.dot(&x.t()),
        e2.dot(&y1.t()),
        e3.dot(&y2.t()),
        e4.dot(&y3.t()),
    ]
}

fn data(rng: &mut ChaCha8Rng, inputs: usize, batch: usize) -> (Array2<f64>, Array2<f64>) {
    let x = uniform(rng, (inputs, batch));
    let y = Array2::from_shape_simple_fn((1, batch), || f64::from(rng.random_range(0u8..10)));
    (x, y)
}

#[test]
fn checker_passes_generated_gradients_and_catches_the_sign_error() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let m = Seed000::<f64>::init(0, [1, 4], [4, 6], [6, 8], [8, 12]).unwrap();
    let (x, y) = data(&mut rng, 12, 5);
    let (_, grads) = m.grad(&x, &y).unwrap();
    let loss_with_w1 = |w1: &Array2<f64>| {
        let mut moved = m.clone();
        moved.w1 = w1.clone();
        moved.loss(&x, &y).unwrap()
    };
    let check = GradCheck::default();
    let report = check.check(loss_with_w1, &m.w1, &grads.w1).unwrap();
    assert!(report.passed, "{report:?}");

    let [right, ..] = hand_written(&m, &x, &y, false);
    let [wrong, ..] = hand_written(&m, &x, &y, true);
    assert!(check.check(loss_with_w1, &m.w1, &right).unwrap().passed);
    let report = check.check(loss_with_w1, &m.w1, &wrong).unwrap();
    assert!(!report.passed);
    assert!(report.max_abs_err > 1.0, "{report:?}");
}

#[test]
fn generated_gradients_equal_the_corrected_hand_written_ones() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let m = Seed000::<f64>::init(1, [1, 8], [8, 16], [16, 24], [24, 32]).unwrap();
    let (x, y) = data(&mut rng, 32, 10);
    let (_, g) = m.grad(&x, &y).unwrap();
    let [w1, w2, w3, w4] = hand_written(&m, &x, &y, false);
    for (ours, theirs) in [(&g.w1, &w1), (&g.w2, &w2), (&g.w3, &w3), (&g.w4, &w4)] {
        let scale = theirs.iter().fold(0.0f64, |s, v| s.max(v.abs()));
        assert!(ours
            .iter()
            .zip(theirs)
            .all(|(a, b)| (a - b).abs() <= 1e-12 * scale));
    }
}

/// Seed 000: SGD with the generated gradient lowers the loss; the forum's flipped sign
/// raises it step after step.
#[test]
fn training_descends_with_the_right_sign_and_diverges_with_the_flipped_one() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let start = Seed000::<f64>::init(2, [1, 8], [8, 16], [16, 24], [24, 32]).unwrap();
    let (x, y) = data(&mut rng, 32, 10);
    let initial = start.loss(&x, &y).unwrap();
    let lr = 1e-3;

    let mut ours = start.clone();
    let mut losses = Vec::new();
    for _ in 0..20 {
        let (loss, g) = ours.grad(&x, &y).unwrap();
        losses.push(loss);
        ours.w1.scaled_add(-lr, &g.w1);
        ours.w2.scaled_add(-lr, &g.w2);
        ours.w3.scaled_add(-lr, &g.w3);
        ours.w4.scaled_add(-lr, &g.w4);
    }
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
    assert!(ours.loss(&x, &y).unwrap() < 0.5 * initial);

    let mut forum = start;
    for _ in 0..20 {
        let [w1, w2, w3, w4] = hand_written(&forum, &x, &y, true);
        forum.w1.scaled_add(-lr, &w1);
        forum.w2.scaled_add(-lr, &w2);
        forum.w3.scaled_add(-lr, &w3);
        forum.w4.scaled_add(-lr, &w4);
    }
    assert!(forum.loss(&x, &y).unwrap() > 2.0 * initial);
}

/// Every parameter and the input of the lesson's network against finite differences.
#[test]
fn lesson_gradients_against_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let m = Lesson::<f64>::init(3, [6, 5], [5], [5, 2], [2]).unwrap();
    let x = uniform(&mut rng, (7, 6));
    let y = Array1::from_shape_simple_fn(7, || rng.random::<f64>());
    let (_, g, inputs) = m.grad_with_inputs(&x, &y).unwrap();
    let check = GradCheck::default();
    let with = |f: &dyn Fn(&mut Lesson<f64>)| {
        let mut moved = m.clone();
        f(&mut moved);
        moved.loss(&x, &y).unwrap()
    };
    let reports = [
        check
            .check(|w| with(&|m| m.w1 = w.clone()), &m.w1, &g.w1)
            .unwrap(),
        check
            .check(|w| with(&|m| m.w2 = w.clone()), &m.w2, &g.w2)
            .unwrap(),
        check
            .check(|x| m.loss(x, &y).unwrap(), &x, &inputs.x)
            .unwrap(),
    ];
    for r in &reports {
        assert!(r.passed, "{r:?}");
    }
    let b1 = numeric_gradient(|b| with(&|m| m.b1 = b.clone()), &m.b1, 1e-6);
    assert!(b1.iter().zip(&g.b1).all(|(n, a)| (n - a).abs() < 1e-6));
    let b2 = numeric_gradient(|b| with(&|m| m.b2 = b.clone()), &m.b2, 1e-6);
    assert!(b2.iter().zip(&g.b2).all(|(n, a)| (n - a).abs() < 1e-6));
}
