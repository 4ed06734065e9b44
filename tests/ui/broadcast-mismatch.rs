use backprop::model;

model! {
    input x: [n, 3];
    param w: [3, 4], b: [3];
    x @ w + b;
    loss mse
}

fn main() {}
