use backprop::model;

model! {
    relux(x @ w1 + b1) @ w2 + b2;
    loss mse
}

fn main() {}
