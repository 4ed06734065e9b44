use backprop::model;

model! {
    x @ w;
    loss out
}

fn main() {}
