use backprop::model;

model! {
    let h = x @ w;
    loss mse
}

fn main() {}
