use backprop::model;

model! {
    target y: [n, 1];
    sigmoid(x @ w);
    loss bce(out, t)
}

fn main() {}
