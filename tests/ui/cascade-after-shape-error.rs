use backprop::checkpoint::save_safetensors;
use backprop::model;
use backprop::optim::{Adam, Optimizer, Sgd};
use backprop::train::Train;

// A shape error: two declared dims that differ.
model! {
    pub struct Mlp;
    input x: [n, 2];
    param w1: [3, nh], w2: [nh, 3];
    relu(x @ w1 + b1) @ w2 + b2;
    loss mse
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let x = ndarray::Array2::<f64>::zeros((4, 2));
    let y = ndarray::Array2::<f64>::zeros((4, 3));
    let m = Mlp::<f64>::init(0, MlpDims { nh: 4 })?;
    let mut m = Mlp::new(m.w1, m.w2, m.b1, m.b2)?;
    let out = m.forward(&x)?;
    let (loss, grads) = m.grad(&x, &y)?;
    let (_, _, input_grads) = m.grad_with_inputs(&x, &y)?;
    let trace = m.trace(&x, &y)?;
    println!("{} {loss} {} {} {}", out.len(), grads.w1.len(), input_grads.x.len(), trace.d_out.len());
    let mut ws = m.workspace();
    let first = m.step(&mut ws, &x, &y, 0.1)?;
    let (_, grads) = m.grad_in(&mut ws, &x, &y)?;
    let grads = grads.clone();
    m.sgd(&grads, 0.1)?;
    let mut adam = Adam::new(1e-3)?;
    adam.step(&mut m, &grads)?;
    let mut sgd = Sgd::new(0.1)?;
    sgd.step(&mut m, &grads)?;
    let history = Train::new(1, 2).progress(false).fit(&mut m, &mut sgd, x.view(), y.view())?;
    save_safetensors(&m, std::env::temp_dir().join("never.safetensors"))?;
    println!("{first} {} {}", history.losses.len(), Mlp::DERIVATION);
    Ok(())
}
