use backprop::model;

model! {

}

fn main() {}
