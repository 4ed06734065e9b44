//! The same bits whatever the thread count: every product splits its sums at points set by
//! its shape, never by the threads, so a run on a laptop and one on a server agree.

use backprop::optim::{Adam, Optimizer};
use ndarray::Array2;

backprop::model! { struct Net; relu(x @ w1 + b1) @ w2 + b2; loss mse }

/// Inputs and targets in [-1, 1), the same on every run.
fn data(rows: usize, cols: usize, seed: u64) -> (Array2<f32>, Array2<f32>) {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let x = Array2::from_shape_simple_fn((rows, cols), &mut next);
    let y = Array2::from_shape_simple_fn((rows, 1), &mut next);
    (x, y)
}

/// The losses of 10 SGD steps then 10 Adam steps, and the parameters after them.
fn train(threads: usize, rows: usize, cols: usize, hidden: usize) -> (Vec<u32>, Vec<u32>) {
    backprop::set_threads(threads);
    let (x, y) = data(rows, cols, 7);
    let mut model = Net::<f32>::init(1, [cols, hidden], [hidden], [hidden, 1], [1]).unwrap();
    let mut ws = model.workspace();
    let mut losses = Vec::new();
    for _ in 0..10 {
        losses.push(model.step(&mut ws, &x, &y, 1e-2).unwrap().to_bits());
    }
    let mut adam = Adam::new(1e-3).unwrap();
    for _ in 0..10 {
        let (loss, grads) = model.grad(&x, &y).unwrap();
        losses.push(loss.to_bits());
        adam.step(&mut model, &grads).unwrap();
    }
    let params = [&model.w1, &model.w2]
        .into_iter()
        .flat_map(|p| p.iter())
        .chain(model.b1.iter().chain(&model.b2))
        .map(|v| v.to_bits())
        .collect();
    (losses, params)
}

#[test]
fn losses_and_parameters_are_the_same_bits_at_1_2_3_and_8_threads() {
    // W3b's shapes (its products split into bands), and a batch long enough that
    // `x^T @ dz1` sums its rows in two halves.
    for (rows, cols, hidden) in [(256, 784, 50), (4096, 64, 32)] {
        let one = train(1, rows, cols, hidden);
        assert!(one.0.iter().all(|&l| f32::from_bits(l).is_finite()));
        assert_ne!(one.0[0], one.0[19], "the model trains");
        for threads in [2, 3, 8] {
            let many = train(threads, rows, cols, hidden);
            assert!(
                one.0 == many.0,
                "[{rows}, {cols}] @ [{cols}, {hidden}]: losses at 1 and {threads} threads differ"
            );
            assert!(
                one.1 == many.1,
                "[{rows}, {cols}] @ [{cols}, {hidden}]: parameters at 1 and {threads} threads differ"
            );
        }
    }
}
