//! Seed 004, the fastai lesson: the 784-50-1 network with `(out[:, 0] - y).pow(2).mean()`
//! on a seeded 1000-row batch, against the lesson's hand-written backward pass.

mod common;

use common::assert_close;
use ndarray::{s, Array1, Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

backprop::model! { pub struct Lesson; relu(x @ w1 + b1) @ w2 + b2; loss (out[:, 0] - y).pow(2).mean() }

/// A standard normal sample (Box-Muller), as `torch.randn`.
fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_simple_fn(shape, || {
        let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    })
}

/// The lesson's gradients, written as it writes them (`Lin`, `Relu` and `Mse` modules).
struct Hand {
    w1: Array2<f64>,
    b1: Array1<f64>,
    w2: Array2<f64>,
    b2: Array1<f64>,
    x: Array2<f64>,
}

/// `lin_grad`: `inp.g = out.g @ w.t()`, `w.g = inp.t() @ out.g`, `b.g = out.g.sum(0)`.
fn lin_grad(
    inp: &Array2<f64>,
    out_g: &Array2<f64>,
    w: &Array2<f64>,
) -> (Array2<f64>, Array2<f64>, Array1<f64>) {
    (
        out_g.dot(&w.t()),
        inp.t().dot(out_g),
        out_g.sum_axis(Axis(0)),
    )
}

fn forward_and_backward(inp: &Array2<f64>, targ: &Array1<f64>, m: &Lesson<f64>) -> (f64, Hand) {
    // forward pass:
    let l1 = inp.dot(&m.w1) + &m.b1;
    let l2 = l1.mapv(|v| v.max(0.0));
    let out = l2.dot(&m.w2) + &m.b2;
    let diff = &out.column(0) - targ;
    let loss = diff.mapv(|d| d * d).mean().unwrap();
    // backward pass:
    let out_g = (2.0 * &diff).insert_axis(Axis(1)) / inp.nrows() as f64;
    let (l2_g, w2_g, b2_g) = lin_grad(&l2, &out_g, &m.w2);
    let l1_g = l1.mapv(|v| f64::from(u8::from(v > 0.0))) * &l2_g;
    let (inp_g, w1_g, b1_g) = lin_grad(inp, &l1_g, &m.w1);
    let hand = Hand {
        w1: w1_g,
        b1: b1_g,
        w2: w2_g,
        b2: b2_g,
        x: inp_g,
    };
    (loss, hand)
}

#[test]
fn lesson_network_matches_hand_written_backward() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (n, m, nh) = (1000, 784, 50);
    let x = Array2::from_shape_simple_fn((n, m), || rng.random::<f64>());
    let y = Array1::from_shape_simple_fn(n, || f64::from(rng.random_range(0u8..10)));
    let model = Lesson::new(
        randn(&mut rng, (m, nh)),
        Array1::zeros(nh),
        randn(&mut rng, (nh, 1)),
        Array1::zeros(1),
    )
    .unwrap();
    let (loss, grads, inputs) = model.grad_with_inputs(&x, &y).unwrap();
    let (hand_loss, hand) = forward_and_backward(&x, &y, &model);
    assert!(
        (loss - hand_loss).abs() <= 1e-10 * hand_loss.abs(),
        "{loss} vs {hand_loss}"
    );
    assert_close("w1", &grads.w1, &hand.w1, 1e-10);
    assert_close("b1", &grads.b1, &hand.b1, 1e-10);
    assert_close("w2", &grads.w2, &hand.w2, 1e-10);
    assert_close("b2", &grads.b2, &hand.b2, 1e-10);
    assert_close("x", &inputs.x, &hand.x, 1e-10);
    // The gradients are large, as in the lesson (|b1.grad| up to ~70), so 1e-10 relative
    // is a strict test.
    assert!(hand.b1.iter().map(|g| g.abs()).fold(0.0, f64::max) > 1.0);
    // Slice views of the batch give the loss of the sliced data.
    let (xs, ys) = (x.slice(s![..500, ..]), y.slice(s![..500]));
    let (sliced, _) = forward_and_backward(&xs.to_owned(), &ys.to_owned(), &model);
    let from_views = model.loss(xs, ys).unwrap();
    assert!(
        (from_views - sliced).abs() <= 1e-10 * sliced,
        "{from_views} vs {sliced}"
    );
}
