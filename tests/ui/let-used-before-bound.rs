use backprop::model;

model! {
    let h = relu(z @ w2);
    let z = x @ w1;
    h @ w3;
    loss mse
}

fn main() {}
