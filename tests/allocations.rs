//! A training loop through the workspace path allocates nothing after its first step:
//! counted by a global allocator, on every thread, over steps 2 to 100 of the Nugues
//! network (W2), of the fastai network on a 256-row batch (W3b), contiguous and as a
//! strided view, and of `Train::fit` over data that leaves a short last batch.
//!
//! A program of its own (`harness = false`): under the test harness, its main thread's
//! bookkeeping for the test it has just started could land in the first count.

use std::sync::atomic::Ordering;

use backprop::optim::Sgd;
use backprop::train::Train;
use ndarray::{array, s, Array1, Array2};

#[path = "common/counting.rs"]
mod counting;
use counting::{Counted, ALLOCATIONS, COUNTING};

backprop::model! {
    struct Nugues;
    input x: [n, 3];
    target y: [n, 1];
    param fc1: [4, 3], fc2: [2, 4], fc3: [1, 2];
    sigmoid(x @ fc1.T @ fc2.T @ fc3.T);
    loss bce
}

backprop::model! { struct Fastai; relu(x @ w1 + b1) @ w2 + b2; loss (out[:, 0] - y).pow(2).mean() }

/// The allocations of steps 2..=100 of `step`, and the losses of the first and last.
fn count(mut step: impl FnMut() -> f32) -> (usize, f32, f32) {
    let first = step();
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let mut last = first;
    for _ in 2..=100 {
        last = step();
    }
    COUNTING.store(false, Ordering::SeqCst);
    (ALLOCATIONS.load(Ordering::SeqCst), first, last)
}

fn main() {
    training_steps_after_the_first_allocate_nothing();
    println!("training steps after the first allocate nothing: W2, W3b, W3b strided, Train::fit");
}

fn training_steps_after_the_first_allocate_nothing() {
    backprop::set_threads(2);
    let x = array![[1.0f32, 2., 3.], [2., 3., 4.], [3., 4., 5.], [4., 5., 6.]];
    let y = array![[1.0f32], [0.], [1.], [0.]];
    let mut nugues = Nugues::<f32>::init(3).unwrap();
    let mut ws = nugues.workspace();
    let (allocations, first, last) = count(|| nugues.step(&mut ws, &x, &y, 0.1).unwrap());
    assert_eq!(allocations, 0, "W2: allocations in steps 2..=100");
    assert!(last < first, "W2 trains: loss {first} -> {last}");

    let rows = 256;
    let x = Array2::from_shape_fn((rows, 784), |(i, j)| ((i * 7 + j * 13) % 97) as f32 / 97.0);
    let y: Array1<f32> = (0..rows).map(|i| (i % 10) as f32).collect();
    let mut fastai = Fastai::<f32>::init(4, [784, 50], [50], [50, 1], [1]).unwrap();
    let mut ws = fastai.workspace();
    let (allocations, first, last) = count(|| fastai.step(&mut ws, &x, &y, 1e-3).unwrap());
    assert_eq!(allocations, 0, "W3b: allocations in steps 2..=100");
    assert!(last < first, "W3b trains: loss {first} -> {last}");

    // The same rows as every other column of a wider array: the same bits, no allocation.
    let wide = Array2::from_shape_fn((rows, 2 * 784), |(i, j)| x[[i, j / 2]]);
    let strided = wide.slice(s![.., ..;2]);
    assert_eq!(strided, x);
    let mut plain = Fastai::<f32>::init(4, [784, 50], [50], [50, 1], [1]).unwrap();
    let mut again = plain.clone();
    let (mut ws, mut ws_strided) = (plain.workspace(), again.workspace());
    for _ in 0..3 {
        let want = plain.step(&mut ws, &x, &y, 1e-3).unwrap();
        let got = again.step(&mut ws_strided, strided, &y, 1e-3).unwrap();
        assert_eq!(got.to_bits(), want.to_bits(), "a strided view's loss");
    }
    assert_eq!(again, plain, "a strided view's parameters");
    let (allocations, first, last) =
        count(|| again.step(&mut ws_strided, strided, &y, 1e-3).unwrap());
    assert_eq!(allocations, 0, "W3b, strided: allocations in steps 2..=100");
    assert!(last < first, "W3b, strided, trains: loss {first} -> {last}");

    // 250 rows in batches of 32: seven full batches and one of 26, every epoch; 100 steps
    // are 12 epochs and a half.
    let x = x.slice(s![..250, ..]);
    let y = y.slice(s![..250]);
    let mut model = Fastai::<f32>::init(4, [784, 50], [50], [50, 1], [1]).unwrap();
    let mut sgd = Counted {
        sgd: Sgd::new(1e-3).unwrap(),
        steps: 0,
    };
    let history = Train::new(13, 32)
        .progress(false)
        .fit(&mut model, &mut sgd, x, y)
        .unwrap();
    assert_eq!(history.losses.len(), 13 * 8);
    let allocations = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(allocations, 0, "Train::fit: allocations in steps 2..=100");
    let (first, last) = (history.epochs[0].loss, history.epochs[12].loss);
    assert!(
        last < first,
        "Train::fit trains: epoch loss {first} -> {last}"
    );
}
