use backprop::model;

model! {
    input x: [n, 3];
    target y: [n];
    param w: [];
    x[:, 3] * w;
    loss mse
}

fn main() {}
