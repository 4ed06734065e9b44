//! Seed 002, "PyTorch Hello World": a 1-1-1 network with sigmoids, input 0.8, target 1,
//! MSE, one SGD step with learning rate 0.1. Prints the article's lines, before and after
//! the step. (The article's text lost its minus signs: the biases are -0.14 and -0.11.)
//!
//! Run with `cargo run --example hello`.

use backprop::ShapeError;
use ndarray::array;

backprop::model! {
    /// Two `nn.Linear(1, 1)` layers with sigmoids, weights in PyTorch's `[out, in]` layout.
    pub struct Hello;
    let h = sigmoid(x @ w_l1.T + b_l1);
    sigmoid(h @ w_l2.T + b_l2);
    loss mse
}

/// What the article prints: the output, the parameters after one step, the new output.
#[derive(Debug)]
pub struct Step {
    pub a_l2: f32,
    pub w_l1: f32,
    pub b_l1: f32,
    pub w_l2: f32,
    pub b_l2: f32,
    pub updated_a_l2: f32,
}

/// The article's network, one forward pass, one SGD step and the forward pass after it.
pub fn run() -> Result<Step, ShapeError> {
    let mut net = Hello::<f32>::new(array![[1.58]], array![-0.14], array![[2.45]], array![-0.11])?;
    let input = array![[0.8]];
    let target = array![[1.0]];
    let a_l2 = net.forward(&input)?[[0, 0]];
    let (_, grads) = net.grad(&input, &target)?;
    let lr = 0.1;
    net.w_l1.scaled_add(-lr, &grads.w_l1);
    net.b_l1.scaled_add(-lr, &grads.b_l1);
    net.w_l2.scaled_add(-lr, &grads.w_l2);
    net.b_l2.scaled_add(-lr, &grads.b_l2);
    Ok(Step {
        a_l2,
        w_l1: net.w_l1[[0, 0]],
        b_l1: net.b_l1[0],
        w_l2: net.w_l2[[0, 0]],
        b_l2: net.b_l2[0],
        updated_a_l2: net.forward(&input)?[[0, 0]],
    })
}

#[allow(dead_code)]
fn main() -> Result<(), ShapeError> {
    let step = run()?;
    println!("w_l1 = 1.58");
    println!("b_l1 = -0.14");
    println!("w_l2 = 2.45");
    println!("b_l2 = -0.11");
    println!("a_l2 = {:.4}", step.a_l2);
    println!("updated_w_l1 = {:.4}", step.w_l1);
    println!("updated_b_l1 = {:.4}", step.b_l1);
    println!("updated_w_l2 = {:.4}", step.w_l2);
    println!("updated_b_l2 = {:.4}", step.b_l2);
    println!("updated_a_l2 = {:.4}", step.updated_a_l2);
    Ok(())
}
