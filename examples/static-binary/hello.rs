//! A program with no runtime dependencies at all: the whole image is this one binary.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        println!("hello from a scratch image");
    } else {
        println!("hello, {}", args.join(" "));
    }
}
