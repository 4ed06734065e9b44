use backprop::model;

model! {
    sigmoid(x @ w) * s.mean();
    loss mse
}

fn main() {}
