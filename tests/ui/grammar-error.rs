use backprop::model;

model! {
    relu(x @ w1 + ) @ w2;
    loss mse
}

fn main() {}
