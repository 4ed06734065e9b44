use backprop::model;

model! {
    let __h = x @ w;
    __h;
    loss mse
}

fn main() {}
