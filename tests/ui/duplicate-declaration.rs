use backprop::model;

model! {
    input x: [n, 3];
    param w: [3, 1];
    param w: [3, 1];
    x @ w;
    loss mse
}

fn main() {}
