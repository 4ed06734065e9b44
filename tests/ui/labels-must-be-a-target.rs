use backprop::model;

model! {
    param labels;
    x @ w;
    loss cross_entropy(out, labels)
}

fn main() {}
