//! `license` and `supplier` on inputs (for the SBOM).
use super::*;

const FILE: &str = "proj/scratch.toml";

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(&format!("[image]\nname = \"x\"\n{text}"), Path::new(FILE))
}

#[test]
fn license_and_supplier_reach_the_inputs() {
    let m = parse(
        "[[layer]]\ntar = \"rootfs.tar\"\nlicense = \"MIT\"\nsupplier = \"Organization: Example\"\n\
         [[layer.file]]\nsrc = \"bin/app\"\ndest = \"/app\"\nlicense = \" Apache-2.0 OR MIT \"\n\
         [[layer.dir]]\nsrc = \"assets\"\ndest = \"/assets\"\nsupplier = \"Jane\"\n\
         [[layer.file]]\nsrc = \"plain\"\ndest = \"/plain\"\n",
    )
    .unwrap();
    let got: Vec<(String, Attribution)> = m
        .inputs()
        .into_iter()
        .map(|i| (i.key, i.attribution))
        .collect();
    let a = |l: Option<&str>, s: Option<&str>| Attribution {
        license: l.map(Into::into),
        supplier: s.map(Into::into),
    };
    assert_eq!(
        got,
        [
            (
                "rootfs.tar".to_string(),
                a(Some("MIT"), Some("Organization: Example"))
            ),
            ("bin/app".to_string(), a(Some("Apache-2.0 OR MIT"), None)),
            ("plain".to_string(), a(None, None)),
            ("assets".to_string(), a(None, Some("Jane"))),
        ]
    );
}

#[test]
fn attribution_without_a_source_or_empty_is_an_error_with_position() {
    let e = parse("[[layer]]\nremove = [\"/a\"]\nlicense = \"MIT\"\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "proj/scratch.toml:5:11: `license` without `tar`: it describes the tar of the same table"
    );
    assert_eq!(e.hint().unwrap(), "add `tar`, or remove `license`");
    let e = parse("[[layer]]\n[[layer.file]]\ndest = \"/a\"\ncontent = \"x\"\nsupplier = \"S\"\n")
        .unwrap_err();
    assert!(e.to_string().contains("`supplier` without `src`"), "{e}");
    let e = parse("[[layer]]\ntar = \"a.tar\"\nlicense = \" \"\n").unwrap_err();
    assert!(
        e.to_string()
            .ends_with("`license` must be one non-empty line"),
        "{e}"
    );
    assert!(e.hint().unwrap().contains("SPDX expression"));
}

#[test]
fn image_sbom_setting() {
    let m = Manifest::parse("[image]\nname = \"x\"\nsbom = \"both\"\n", Path::new(FILE)).unwrap();
    assert_eq!(m.image.sbom, Some(crate::sbom::SbomFormat::Both));
    let e =
        Manifest::parse("[image]\nname = \"x\"\nsbom = \"swid\"\n", Path::new(FILE)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "proj/scratch.toml:3:8: `swid` is not an SBOM format"
    );
    assert_eq!(e.hint().unwrap(), "use spdx, cyclonedx or both");
}
