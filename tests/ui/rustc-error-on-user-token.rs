use backprop::model;

model! {
    // Arrays are not `Copy`: rustc's error lands on the parameter that is not.
    #[derive(Copy)]
    pub struct Mlp;
    relu(x @ w1 + b1) @ w2 + b2;
    loss mse
}

fn main() {}
