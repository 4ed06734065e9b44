use backprop::model;

model! {
    input x: [n, 3];
    target labels;
    let logprobs = log_softmax(x @ w);
    logprobs * labels;
    loss -logprobs[range(n), labels].mean()
}

fn main() {}
