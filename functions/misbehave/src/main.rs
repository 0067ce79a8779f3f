//! `misbehave` as a container function.
fn main() {
    edgeless_container_function::serve::<misbehave::Misbehave>();
}
