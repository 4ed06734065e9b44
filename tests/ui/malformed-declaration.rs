use backprop::model;

model! {
    input x [n, 3];
    x @ w;
    loss mse
}

fn main() {}
