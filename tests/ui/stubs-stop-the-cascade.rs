use backprop::model;

// One mistake, one error: the items the model would have are still there.
model! {
    pub struct Mlp;
    input x: [n, 2];
    target y: [n, 1];
    relux(x @ w1 + b1) @ w2 + b2;
    loss mse
}

fn main() {
    let m = Mlp::<f64>::init(0, [2, 4], [4], [4, 1], [1]).unwrap();
    let x = ndarray::Array2::<f64>::zeros((4, 2));
    let y = ndarray::Array2::<f64>::zeros((4, 1));
    let (loss, grads) = m.grad(&x, &y).unwrap();
    let out = m.forward(&x).unwrap();
    let trace = m.trace(&x, &y).unwrap();
    println!("{loss} {} {} {}", grads.w1.len(), out.len(), trace.d_out.len());
}
