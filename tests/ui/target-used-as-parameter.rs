use backprop::model;

model! {
    target y: [n, 1];
    sigmoid(x @ w + y);
    loss bce
}

fn main() {}
