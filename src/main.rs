//! The `compose` command line: a thin front end over the `scratch_compose` library.

fn main() {
    std::process::exit(2);
}
