use super::*;

fn err(text: &str) -> String {
    Manifest::parse(text, Path::new("dir/scratch.toml"))
        .unwrap_err()
        .to_string()
}

#[test]
fn explore() {
    for t in [
        "[image]\nnmae = \"x\"\n",
        "[image]\nname = \"x\"\n[[layer]]\ncomment = \"c\"\n",
        "[image]\nname = \"x\"\n[[layer]]\ntar = \"a.tar\"\n[[layer]]\n\n[[layer.file]]\ndest = \"/a\"\ncontent = \"\"\n[[layer.file]]\ndest = \"/a/\"\ncontent = \"\"\n",
        "[image]\nname = \"x\"\n[[layer]]\n[[layer.file]]\ndest = \"/a\"\nmode = 755\n",
        "[image]\nname = \"x\"\n[[layer]]\n[[layer.file]]\ndest = \"/a\"\nsrcc = 755\n",
        "[image]\nname = \"x\"\n[[layer]]\n[[layer.file]]\nsrc = \"x\"\n",
        "[image\nname = \"x\"\n",
        "",
    ] {
        println!("{}", err(t));
    }
}
