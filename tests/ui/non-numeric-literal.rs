use backprop::model;

model! {
    sigmoid(x @ w) * "2";
    loss mse
}

fn main() {}
