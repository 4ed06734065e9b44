use backprop::model;

model! {
    let h = x @ w;
    out @ v;
    loss mse
}

fn main() {}
