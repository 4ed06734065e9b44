use backprop::model;

model! {
    input x: [n, 784];
    param w1: [785, 50], b1: [50], w2: [50, 1], b2: [1];
    relu(x @ w1 + b1) @ w2 + b2;
    loss mse
}

fn main() {}
