//! The code of a custom training job: one file, or a zip, tar or gzip-compressed tar archive.
//! Checked whole at submission — every entry's path, type and real size — and unpacked by the
//! worker into the job's own directory with the same checks.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Largest code upload accepted.
pub const MAX_CODE_BYTES: u64 = 256 << 20;
/// Most bytes an archive may unpack to.
pub const MAX_UNPACKED_BYTES: u64 = 1 << 30;
/// Most files an archive may hold.
pub const MAX_FILES: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeKind {
    /// One file, kept under its own name.
    File,
    Zip,
    Tar,
    TarGz,
}

/// What an upload holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeSummary {
    pub kind: CodeKind,
    pub files: usize,
    pub unpacked_bytes: u64,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(format!("code: {}", msg.into()))
}

/// Checks a file name given for single-file code (`train.py`).
pub fn check_filename(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(bad("the uploaded file needs a name (e.g. train.py)"));
    }
    if name.len() > 255 || name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
        return Err(bad(format!("'{}' is not a plain file name", name.escape_debug())));
    }
    Ok(name.to_string())
}

/// Recognises the upload by its first bytes; a name ending in an archive's extension must match.
pub fn detect(head: &[u8], filename: &str) -> Result<CodeKind> {
    let lower = filename.to_ascii_lowercase();
    let kind = if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        CodeKind::Zip
    } else if head.starts_with(&[0x1f, 0x8b]) {
        CodeKind::TarGz
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        CodeKind::Tar
    } else {
        CodeKind::File
    };
    let named = if lower.ends_with(".zip") {
        Some(CodeKind::Zip)
    } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        Some(CodeKind::TarGz)
    } else if lower.ends_with(".tar") {
        Some(CodeKind::Tar)
    } else {
        None
    };
    match named {
        Some(n) if n != kind => Err(bad(format!("'{filename}' is named like a {} archive but its content is not one", ext(n)))),
        _ => Ok(kind),
    }
}

fn ext(k: CodeKind) -> &'static str {
    match k {
        CodeKind::File => "plain",
        CodeKind::Zip => "zip",
        CodeKind::Tar => "tar",
        CodeKind::TarGz => "tar.gz",
    }
}

/// Checks every entry of the upload at `path` (reading all of it) without writing anything.
pub fn inspect(path: &Path, filename: &str) -> Result<CodeSummary> {
    walk(path, filename, None)
}

/// Unpacks the upload at `path` into `dest` (an empty directory), checking as [`inspect`] does.
pub fn unpack(path: &Path, filename: &str, dest: &Path) -> Result<CodeSummary> {
    walk(path, filename, Some(dest))
}

/// The checked relative path of an archive entry.
fn entry_path(raw: &str) -> Result<PathBuf> {
    let shown = raw.escape_debug().to_string();
    if raw.contains('\0') || raw.contains('\\') {
        return Err(bad(format!("entry '{shown}': backslashes and NUL bytes are not allowed in paths")));
    }
    let p = Path::new(raw);
    let mut clean = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(bad(format!("entry '{shown}' leaves the archive ('..')"))),
            Component::RootDir | Component::Prefix(_) => return Err(bad(format!("entry '{shown}' is an absolute path"))),
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(bad(format!("entry '{shown}' has no name")));
    }
    Ok(clean)
}

/// Running totals and where files go.
struct Sink<'a> {
    dest: Option<&'a Path>,
    files: usize,
    bytes: u64,
}

impl Sink<'_> {
    fn dir(&mut self, rel: &Path) -> Result<()> {
        if let Some(d) = self.dest {
            std::fs::create_dir_all(d.join(rel)).map_err(|e| io_error("creating a directory", e))?;
        }
        Ok(())
    }

    /// Copies one file's content, refusing it past the totals; `mode` keeps an executable bit.
    fn file(&mut self, rel: &Path, mut content: impl Read, mode: Option<u32>) -> Result<()> {
        self.files += 1;
        if self.files > MAX_FILES {
            return Err(bad(format!("the archive holds more than {MAX_FILES} files")));
        }
        let room = MAX_UNPACKED_BYTES - self.bytes;
        let mut limited = (&mut content).take(room + 1);
        let shown = rel.display().to_string();
        let copied = match self.dest {
            Some(d) => {
                let target = d.join(rel);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io_error("creating a directory", e))?;
                }
                if target.exists() {
                    return Err(bad(format!("entry '{shown}' appears twice")));
                }
                let mut out = std::fs::File::create(&target).map_err(|e| io_error("writing the code", e))?;
                let n = std::io::copy(&mut limited, &mut out).map_err(|e| bad(format!("entry '{shown}' cannot be read: {e}")))?;
                out.flush().map_err(|e| io_error("writing the code", e))?;
                if let Some(m) = mode.filter(|m| m & 0o111 != 0) {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755 & (m | 0o644)));
                }
                n
            }
            None => std::io::copy(&mut limited, &mut std::io::sink()).map_err(|e| bad(format!("entry '{shown}' cannot be read: {e}")))?,
        };
        if copied > room {
            return Err(bad(format!("the archive unpacks to more than {MAX_UNPACKED_BYTES} bytes")));
        }
        self.bytes += copied;
        Ok(())
    }
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::Internal(anyhow::anyhow!("{what}: {e}"))
}

fn walk(path: &Path, filename: &str, dest: Option<&Path>) -> Result<CodeSummary> {
    let filename = check_filename(filename)?;
    let mut file = std::fs::File::open(path).map_err(|e| io_error("opening the upload", e))?;
    let mut head = vec![0u8; 512];
    let n = read_up_to(&mut file, &mut head).map_err(|e| io_error("reading the upload", e))?;
    head.truncate(n);
    if head.is_empty() {
        return Err(bad(format!("'{filename}' is empty")));
    }
    let kind = detect(&head, &filename)?;
    let file = std::fs::File::open(path).map_err(|e| io_error("opening the upload", e))?;
    let mut sink = Sink { dest, files: 0, bytes: 0 };
    match kind {
        CodeKind::File => sink.file(Path::new(&filename), file, Some(0o644))?,
        CodeKind::Zip => {
            let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(format!("'{filename}' is not a readable zip archive: {e}")))?;
            for i in 0..zip.len() {
                let entry = zip.by_index(i).map_err(|e| bad(format!("'{filename}', entry {}: {e}", i + 1)))?;
                let rel = entry_path(entry.name())?;
                if entry.is_symlink() {
                    return Err(bad(format!("entry '{}' is a symbolic link; only files and directories are allowed", rel.display())));
                }
                if entry.is_dir() {
                    sink.dir(&rel)?;
                } else {
                    let mode = entry.unix_mode();
                    sink.file(&rel, entry, mode)?;
                }
            }
        }
        CodeKind::Tar => tar_entries(tar::Archive::new(file), &filename, &mut sink)?,
        CodeKind::TarGz => tar_entries(tar::Archive::new(flate2::read::GzDecoder::new(file)), &filename, &mut sink)?,
    }
    if sink.files == 0 {
        return Err(bad(format!("'{filename}' holds no files")));
    }
    Ok(CodeSummary { kind, files: sink.files, unpacked_bytes: sink.bytes })
}

fn tar_entries<R: Read>(mut archive: tar::Archive<R>, filename: &str, sink: &mut Sink<'_>) -> Result<()> {
    let entries = archive.entries().map_err(|e| bad(format!("'{filename}' is not a readable tar archive: {e}")))?;
    for (i, entry) in entries.enumerate() {
        let entry = entry.map_err(|e| bad(format!("'{filename}', entry {}: {e}", i + 1)))?;
        let raw = entry.path_bytes();
        let raw = std::str::from_utf8(&raw).map_err(|_| bad(format!("'{filename}', entry {}: the path is not UTF-8", i + 1)))?.to_string();
        let rel = entry_path(&raw)?;
        use tar::EntryType as T;
        match entry.header().entry_type() {
            T::Directory => sink.dir(&rel)?,
            T::Regular | T::Continuous => {
                let mode = entry.header().mode().ok();
                sink.file(&rel, entry, mode)?;
            }
            // Extended headers are read by the tar crate itself; global ones carry no file.
            T::XGlobalHeader => {}
            other => {
                return Err(bad(format!(
                    "entry '{}' is a {}; only files and directories are allowed",
                    rel.display(),
                    match other {
                        T::Symlink => "symbolic link".to_string(),
                        T::Link => "hard link".to_string(),
                        t => format!("special file ({t:?})"),
                    }
                )))
            }
        }
    }
    Ok(())
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, body) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).unix_permissions(0o755)).unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn tar_of(entries: &[(&str, &[u8])], gzip: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, body) in entries {
            let mut h = tar::Header::new_gnu();
            // Set the name bytes directly so that hostile names reach the archive unchanged.
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            b.append(&h, *body).unwrap();
        }
        let raw = b.into_inner().unwrap();
        if !gzip {
            return raw;
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn unpacks_each_kind() {
        let tmp = tempfile::tempdir().unwrap();
        let files: &[(&str, &[u8])] = &[("train.py", b"print('hi')\n"), ("pkg/util.py", b"X = 1\n")];
        for (name, bytes, kind) in [
            ("code.zip", zip_of(files), CodeKind::Zip),
            ("code.tar", tar_of(files, false), CodeKind::Tar),
            ("code.tar.gz", tar_of(files, true), CodeKind::TarGz),
        ] {
            let p = write(tmp.path(), name, &bytes);
            let s = inspect(&p, name).unwrap();
            assert_eq!(s, CodeSummary { kind, files: 2, unpacked_bytes: 18 });
            let dest = tmp.path().join(format!("out-{name}"));
            std::fs::create_dir(&dest).unwrap();
            unpack(&p, name, &dest).unwrap();
            assert_eq!(std::fs::read(dest.join("train.py")).unwrap(), b"print('hi')\n");
            assert_eq!(std::fs::read(dest.join("pkg/util.py")).unwrap(), b"X = 1\n");
        }
        let p = write(tmp.path(), "upload", b"print(1)\n");
        let dest = tmp.path().join("single");
        std::fs::create_dir(&dest).unwrap();
        assert_eq!(unpack(&p, "train.py", &dest).unwrap().kind, CodeKind::File);
        assert_eq!(std::fs::read(dest.join("train.py")).unwrap(), b"print(1)\n");
    }

    #[test]
    fn refuses_paths_that_leave_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        for (name, entry) in [("z.zip", "../evil.py"), ("t.tar", "../evil.py"), ("a.tar", "/etc/evil"), ("z2.zip", "a/../../evil")] {
            let bytes = if name.ends_with(".zip") { zip_of(&[(entry, b"x")]) } else { tar_of(&[(entry, b"x")], false) };
            let p = write(tmp.path(), name, &bytes);
            let e = inspect(&p, name).unwrap_err().to_string();
            assert!(e.contains("leaves the archive") || e.contains("absolute path"), "{name}: {e}");
        }
        assert!(!tmp.path().parent().unwrap().join("evil.py").exists());
    }

    #[test]
    fn refuses_links_bad_names_and_mismatched_content() {
        let tmp = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "link", "/etc/passwd").unwrap();
        let p = write(tmp.path(), "l.tar", &b.into_inner().unwrap());
        assert!(inspect(&p, "l.tar").unwrap_err().to_string().contains("symbolic link"));

        let p = write(tmp.path(), "fake.zip", b"print(1)\n");
        assert!(inspect(&p, "fake.zip").unwrap_err().to_string().contains("named like a zip archive"));
        let p = write(tmp.path(), "empty", b"");
        assert!(inspect(&p, "train.py").unwrap_err().to_string().contains("is empty"));
        for name in ["", "a/b.py", "..", "x\\y.py"] {
            assert!(check_filename(name).is_err(), "{name:?}");
        }
        // A zip whose entry is cut short fails its check at submission.
        let mut bytes = zip_of(&[("train.py", &[b'x'; 4000][..])]);
        let at = bytes.windows(4).position(|w| w == b"xxxx").unwrap();
        bytes[at + 10] = b'y';
        let p = write(tmp.path(), "crc.zip", &bytes);
        assert!(inspect(&p, "crc.zip").is_err());
    }
}
