//! Seed 004, the fastai lesson: the 784-50-1 network with `(out[:, 0] - y).pow(2).mean()`
//! on a seeded 1000-row batch, against the lesson's hand-written backward pass.

mod common;
#[path = "../examples/fastai.rs"]
mod fastai;

use common::assert_close;
use fastai::{forward_and_backward, Lesson};
use ndarray::{s, Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A standard normal sample (Box-Muller), as `torch.randn`.
fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize)) -> Array2<f64> {
    Array2::from_shape_simple_fn(shape, || {
        let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    })
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

/// The example's run on the shipped MNIST images: `test_close` passes for every gradient,
/// and the mse falls as the network trains.
#[test]
fn example_checks_the_lesson_then_trains() {
    let data = fastai::data().unwrap();
    let (x, y) = &data[0];
    let mut m = fastai::network(0).unwrap();
    let (close, loss, hand_loss) = fastai::compare(&m, x, y, 1e-5).unwrap();
    assert_eq!(close, [true; 5]);
    assert!(
        (loss - hand_loss).abs() <= 1e-12 * hand_loss,
        "{loss} vs {hand_loss}"
    );
    // The targets are digits 0..9: the untrained network is far off.
    assert!(loss > 10.0, "{loss}");
    let history = fastai::train(&mut m, &data, 2, false).unwrap();
    let last = history.epochs.last().unwrap().loss;
    assert!(last < loss / 3.0, "{last} vs {loss}");
    let (xv, yv) = &data[1];
    assert!(m.loss(xv, yv).unwrap() < loss / 2.0);
}
