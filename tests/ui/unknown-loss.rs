use backprop::model;

model! {
    sigmoid(x @ w);
    loss msee
}

fn main() {}
