//! The few facts about an ELF file that decide whether the kernel and the dynamic loader
//! can start it: class, byte order, machine, type, `PT_INTERP`, `DT_NEEDED`,
//! `DT_RUNPATH` and `DT_RPATH`.
//!
//! Parsing goes through the `object` crate's ELF structures over a seekable reader, and
//! reads only what it needs: the header, the program headers, the interpreter and
//! dynamic segments and the strings they name. Every size read from the file is checked
//! against a limit before anything is read, so a hostile file costs at most a few MiB of
//! memory whatever its headers claim.

use std::io::{Read, Seek};

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::read::{ReadCache, ReadRef};
use object::Endianness;

// `e_machine` values, as plain numbers for matching.
const EM_386: u16 = elf::EM_386.0;
const EM_ARM: u16 = elf::EM_ARM.0;
const EM_X86_64: u16 = elf::EM_X86_64.0;
const EM_AARCH64: u16 = elf::EM_AARCH64.0;
const EM_PPC: u16 = elf::EM_PPC.0;
const EM_PPC64: u16 = elf::EM_PPC64.0;
const EM_S390: u16 = elf::EM_S390.0;
const EM_RISCV: u16 = elf::EM_RISCV.0;
const EM_MIPS: u16 = elf::EM_MIPS.0;

/// The most program headers read (real binaries have about a dozen).
const MAX_PHNUM: u16 = 1024;
/// The largest `PT_INTERP` segment read (Linux refuses more than a page).
const MAX_INTERP: u64 = 4096;
/// The largest `PT_DYNAMIC` segment read.
const MAX_DYNAMIC: u64 = 1 << 20;
/// The most `DT_NEEDED` entries kept.
const MAX_NEEDED: usize = 1024;

/// What the loader needs to know about one ELF file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ElfInfo {
    /// 64-bit (`ELFCLASS64`).
    pub class64: bool,
    /// Little-endian (`ELFDATA2LSB`).
    pub little_endian: bool,
    /// `e_machine`.
    pub machine: u16,
    /// `e_type` (`ET_EXEC`, `ET_DYN`, …).
    pub file_type: u16,
    /// The `PT_INTERP` path, when there is one (a dynamically linked program).
    pub interpreter: Option<Vec<u8>>,
    /// Every `DT_NEEDED` name, in order.
    pub needed: Vec<Vec<u8>>,
    /// `DT_RUNPATH`, colon-separated.
    pub runpath: Option<Vec<u8>>,
    /// `DT_RPATH`, colon-separated.
    pub rpath: Option<Vec<u8>>,
}

impl ElfInfo {
    /// True for a program or shared object the kernel can map (`ET_EXEC`, `ET_DYN`).
    pub fn is_loadable(&self) -> bool {
        self.file_type == elf::ET_EXEC.0 || self.file_type == elf::ET_DYN.0
    }

    /// A name for the file's machine, as people know it.
    pub fn machine_name(&self) -> String {
        machine_name(self.machine, self.class64)
    }
}

/// Why a file that starts like ELF could not be read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The file does not start with `\x7fELF`.
    #[error("not an ELF file")]
    NotElf,
    /// The headers are inconsistent or point outside the file.
    #[error("malformed ELF file: {0}")]
    Malformed(&'static str),
    /// A size in the headers is beyond what any real program uses.
    #[error("ELF {0} larger than the preflight limit")]
    TooLarge(&'static str),
}

/// True when `prefix` (the first bytes of a file) starts like ELF.
pub fn is_elf(prefix: &[u8]) -> bool {
    prefix.starts_with(b"\x7fELF")
}

/// Read the loader facts from a seekable reader over a whole file.
pub fn parse<R: Read + Seek>(reader: R) -> Result<ElfInfo, ElfError> {
    let cache = ReadCache::new(reader);
    let data = &cache;
    let ident = data.read_bytes_at(0, 16).map_err(|()| ElfError::NotElf)?;
    if !is_elf(ident) {
        return Err(ElfError::NotElf);
    }
    match ident[4] {
        2 => parse_as::<elf::FileHeader64<Endianness>, _>(data),
        1 => parse_as::<elf::FileHeader32<Endianness>, _>(data),
        _ => Err(ElfError::Malformed("unknown class")),
    }
}

/// [`parse`] over bytes in memory (tests and the fuzz target).
pub fn parse_bytes(bytes: &[u8]) -> Result<ElfInfo, ElfError> {
    parse(std::io::Cursor::new(bytes))
}

fn parse_as<'d, H, R>(data: R) -> Result<ElfInfo, ElfError>
where
    H: FileHeader<Endian = Endianness>,
    R: ReadRef<'d>,
{
    let header = H::parse(data).map_err(|_| ElfError::Malformed("bad header"))?;
    let endian = header
        .endian()
        .map_err(|_| ElfError::Malformed("unknown byte order"))?;
    let mut info = ElfInfo {
        class64: header.is_class_64(),
        little_endian: header.is_little_endian(),
        machine: header.e_machine(endian).0,
        file_type: header.e_type(endian).0,
        ..ElfInfo::default()
    };
    let phnum = header.e_phnum(endian);
    if phnum == elf::PN_XNUM || phnum > MAX_PHNUM {
        return Err(ElfError::TooLarge("program header table"));
    }
    let phs = header
        .program_headers(endian, data)
        .map_err(|_| ElfError::Malformed("program headers outside the file"))?;
    let mut dynamic = None;
    for ph in phs {
        let p_type = ph.p_type(endian);
        let size: u64 = ph.p_filesz(endian).into();
        if p_type == elf::PT_INTERP {
            if size > MAX_INTERP {
                return Err(ElfError::TooLarge("interpreter segment"));
            }
            let interp = ph
                .interpreter(endian, data)
                .map_err(|_| ElfError::Malformed("interpreter segment outside the file"))?
                .unwrap_or_default();
            info.interpreter = Some(interp.to_vec());
        } else if p_type == elf::PT_DYNAMIC && dynamic.is_none() {
            if size > MAX_DYNAMIC {
                return Err(ElfError::TooLarge("dynamic segment"));
            }
            dynamic = ph
                .dynamic(endian, data)
                .map_err(|_| ElfError::Malformed("dynamic segment outside the file"))?;
        }
    }
    let Some(dynamic) = dynamic else {
        return Ok(info);
    };
    let (mut strtab, mut strsz) = (None, 0u64);
    let (mut needed, mut runpath, mut rpath) = (Vec::new(), None, None);
    for d in dynamic {
        let tag = d.tag(endian);
        let val = d.val(endian);
        if tag == elf::DT_NULL {
            break;
        } else if tag == elf::DT_STRTAB {
            strtab = Some(val);
        } else if tag == elf::DT_STRSZ {
            strsz = val;
        } else if tag == elf::DT_NEEDED {
            if needed.len() == MAX_NEEDED {
                return Err(ElfError::TooLarge("list of needed libraries"));
            }
            needed.push(val);
        } else if tag == elf::DT_RUNPATH {
            runpath = Some(val);
        } else if tag == elf::DT_RPATH {
            rpath = Some(val);
        }
    }
    if needed.is_empty() && runpath.is_none() && rpath.is_none() {
        return Ok(info);
    }
    let strtab = strtab.ok_or(ElfError::Malformed(
        "dynamic section without a string table",
    ))?;
    let table = file_offset(header, endian, data, strtab)?;
    let string = |off: u64| -> Result<Vec<u8>, ElfError> {
        if off >= strsz {
            return Err(ElfError::Malformed("string offset past the string table"));
        }
        let start = table
            .checked_add(off)
            .ok_or(ElfError::Malformed("string offset overflows"))?;
        let end = table.saturating_add(strsz);
        data.read_bytes_at_until(start..end, 0)
            .map(<[u8]>::to_vec)
            .map_err(|()| ElfError::Malformed("unterminated or overlong string"))
    };
    info.needed = needed.into_iter().map(string).collect::<Result<_, _>>()?;
    info.runpath = runpath.map(string).transpose()?;
    info.rpath = rpath.map(string).transpose()?;
    Ok(info)
}

/// The file offset of virtual address `addr`, through the `PT_LOAD` segments.
fn file_offset<'d, H, R>(
    header: &H,
    endian: Endianness,
    data: R,
    addr: u64,
) -> Result<u64, ElfError>
where
    H: FileHeader<Endian = Endianness>,
    R: ReadRef<'d>,
{
    let phs = header
        .program_headers(endian, data)
        .map_err(|_| ElfError::Malformed("program headers outside the file"))?;
    for ph in phs {
        if ph.p_type(endian) != elf::PT_LOAD {
            continue;
        }
        let vaddr: u64 = ph.p_vaddr(endian).into();
        let filesz: u64 = ph.p_filesz(endian).into();
        let offset: u64 = ph.p_offset(endian).into();
        if addr >= vaddr && addr - vaddr < filesz {
            return offset
                .checked_add(addr - vaddr)
                .ok_or(ElfError::Malformed("segment offset overflows"));
        }
    }
    Err(ElfError::Malformed(
        "the string table is in no loaded segment",
    ))
}

/// The `e_machine`, class and byte order a platform's programs have.
pub fn expected_for(architecture: &str) -> Option<(u16, bool, bool)> {
    Some(match architecture {
        "amd64" => (EM_X86_64, true, true),
        "arm64" => (EM_AARCH64, true, true),
        "386" => (EM_386, false, true),
        "arm" => (EM_ARM, false, true),
        "ppc64le" => (EM_PPC64, true, true),
        "s390x" => (EM_S390, true, false),
        "riscv64" => (EM_RISCV, true, true),
        _ => return None,
    })
}

/// A name for `e_machine`, with the platform it runs on when it is one we build.
pub fn machine_name(machine: u16, class64: bool) -> String {
    let name = match (machine, class64) {
        (EM_X86_64, _) => "x86-64 (linux/amd64)",
        (EM_AARCH64, _) => "AArch64 (linux/arm64)",
        (EM_386, _) => "i386 (linux/386)",
        (EM_ARM, _) => "32-bit ARM (linux/arm)",
        (EM_PPC64, _) => "64-bit PowerPC (linux/ppc64le)",
        (EM_S390, true) => "s390x (linux/s390x)",
        (EM_RISCV, true) => "RISC-V 64 (linux/riscv64)",
        (EM_RISCV, false) => "RISC-V 32",
        (EM_MIPS, _) => "MIPS",
        (EM_PPC, _) => "32-bit PowerPC",
        _ => return format!("machine {machine}"),
    };
    name.to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal 64-bit little-endian ELF: header, program headers (a `PT_LOAD` over the
    /// whole file, `PT_INTERP` and `PT_DYNAMIC` when asked), the interpreter string, the
    /// dynamic section and its string table. Enough for the loader facts, not to run.
    pub(crate) fn tiny_elf(
        machine: u16,
        interp: Option<&str>,
        needed: &[&str],
        runpath: Option<&str>,
    ) -> Vec<u8> {
        let mut strtab = vec![0u8];
        let mut add = |s: &str| {
            let off = strtab.len() as u64;
            strtab.extend_from_slice(s.as_bytes());
            strtab.push(0);
            off
        };
        let mut dyns: Vec<(i64, u64)> = needed.iter().map(|n| (1, add(n))).collect();
        if let Some(r) = runpath {
            dyns.push((29, add(r)));
        }
        let has_dyn = !dyns.is_empty();
        let phnum = 1 + u64::from(interp.is_some()) + u64::from(has_dyn);
        let phoff = 64u64;
        let interp_off = phoff + 56 * phnum;
        let interp_bytes = interp
            .map(|i| [i.as_bytes(), b"\0"].concat())
            .unwrap_or_default();
        let strtab_off = interp_off + interp_bytes.len() as u64;
        let dyn_off = (strtab_off + strtab.len() as u64 + 7) & !7;
        dyns.push((5, strtab_off)); // DT_STRTAB (vaddr == offset)
        dyns.push((10, strtab.len() as u64)); // DT_STRSZ
        dyns.push((0, 0));
        let total = dyn_off + 16 * dyns.len() as u64;

        let mut f = Vec::new();
        f.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        f.extend_from_slice(&3u16.to_le_bytes()); // ET_DYN
        f.extend_from_slice(&machine.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&0u64.to_le_bytes()); // entry
        f.extend_from_slice(&phoff.to_le_bytes());
        f.extend_from_slice(&0u64.to_le_bytes()); // shoff
        f.extend_from_slice(&0u32.to_le_bytes()); // flags
        f.extend_from_slice(&64u16.to_le_bytes());
        f.extend_from_slice(&56u16.to_le_bytes());
        f.extend_from_slice(&(phnum as u16).to_le_bytes());
        f.extend_from_slice(&[0u8; 6]); // shentsize, shnum, shstrndx
        let ph = |f: &mut Vec<u8>, p_type: u32, off: u64, size: u64| {
            f.extend_from_slice(&p_type.to_le_bytes());
            f.extend_from_slice(&4u32.to_le_bytes());
            for v in [off, off, off, size, size, 8] {
                f.extend_from_slice(&v.to_le_bytes());
            }
        };
        ph(&mut f, 1, 0, total);
        if interp.is_some() {
            ph(&mut f, 3, interp_off, interp_bytes.len() as u64);
        }
        if has_dyn {
            ph(&mut f, 2, dyn_off, 16 * dyns.len() as u64);
        }
        f.extend_from_slice(&interp_bytes);
        f.extend_from_slice(&strtab);
        f.resize(dyn_off as usize, 0);
        for (tag, val) in dyns {
            f.extend_from_slice(&tag.to_le_bytes());
            f.extend_from_slice(&val.to_le_bytes());
        }
        f
    }

    #[test]
    fn reads_interpreter_needed_and_runpath() {
        let bytes = tiny_elf(
            EM_X86_64,
            Some("/lib/ld-musl-x86_64.so.1"),
            &["libz.so.1", "libc.musl-x86_64.so.1"],
            Some("$ORIGIN/../lib"),
        );
        let info = parse_bytes(&bytes).unwrap();
        assert!(info.class64 && info.little_endian && info.is_loadable());
        assert_eq!(info.machine, EM_X86_64);
        assert_eq!(
            info.interpreter.as_deref(),
            Some(&b"/lib/ld-musl-x86_64.so.1"[..])
        );
        assert_eq!(
            info.needed,
            [b"libz.so.1".to_vec(), b"libc.musl-x86_64.so.1".to_vec()]
        );
        assert_eq!(info.runpath.as_deref(), Some(&b"$ORIGIN/../lib"[..]));
        assert_eq!(info.rpath, None);
    }

    #[test]
    fn a_static_binary_has_no_interpreter_or_needed() {
        let info = parse_bytes(&tiny_elf(EM_AARCH64, None, &[], None)).unwrap();
        assert_eq!(info.interpreter, None);
        assert!(info.needed.is_empty());
        assert_eq!(info.machine_name(), "AArch64 (linux/arm64)");
    }

    #[test]
    fn hostile_headers_are_errors_not_panics_or_huge_reads() {
        let good = tiny_elf(EM_X86_64, Some("/lib/ld.so"), &["liba.so"], None);
        assert_eq!(parse_bytes(b"\x7fEL"), Err(ElfError::NotElf));
        assert_eq!(parse_bytes(b"#!/bin/sh\n"), Err(ElfError::NotElf));
        // Truncated anywhere: an error or (before the dynamic part) fewer facts.
        for n in 0..good.len() {
            let _ = parse_bytes(&good[..n]);
        }
        // A program header count past the limit.
        let mut many = good.clone();
        many[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
        assert!(matches!(parse_bytes(&many), Err(ElfError::TooLarge(_))));
        // An interpreter segment claiming 1 GiB.
        let mut big = good.clone();
        let interp_ph = 64 + 56;
        big[interp_ph + 32..interp_ph + 40].copy_from_slice(&(1u64 << 30).to_le_bytes());
        assert!(matches!(parse_bytes(&big), Err(ElfError::TooLarge(_))));
        // A string offset past the table.
        let mut bad = good;
        let dyn_at = bad.len() - 16 * 4;
        bad[dyn_at + 8..dyn_at + 16].copy_from_slice(&9999u64.to_le_bytes());
        assert!(matches!(parse_bytes(&bad), Err(ElfError::Malformed(_))));
    }
}
