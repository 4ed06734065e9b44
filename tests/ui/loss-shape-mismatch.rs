use backprop::model;

model! {
    input x: [n, 3];
    target y: [n, 2];
    param w: [3, 1];
    sigmoid(x @ w);
    loss bce
}

fn main() {}
