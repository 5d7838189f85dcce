//! Blob storage through `object_store`: a local directory by default, or any S3-compatible store
//! by URL. Keys are derived from the content's SHA-256, never from user input. Uploads land in a
//! local temporary file first and reach the store only after validation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};


use crate::{Error, Result};

#[derive(Clone, Debug)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    tmp: PathBuf,
}

/// A file received into temporary storage, hashed on the way in.
#[derive(Debug)]
pub struct Received {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

impl Received {
    pub async fn discard(self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

fn key(sha256: &str) -> ObjectPath {
    ObjectPath::from(format!("sha256/{}/{}", &sha256[..2], sha256))
}

impl Blobs {
    /// Blobs in `root/blobs`, temporary files in `root/tmp`.
    pub fn local(root: &Path) -> Result<Self> {
        let blobs = root.join("blobs");
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let store = LocalFileSystem::new_with_prefix(&blobs).context("opening the blob directory")?;
        Ok(Blobs { store: Arc::new(store), tmp })
    }

    /// Blobs in the store named by `url` (`s3://bucket[/prefix]` or `file:///path`); temporary
    /// files still in `root/tmp`. S3 settings come from the usual `AWS_*` environment variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` for an
    /// S3-compatible server, `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint).
    pub fn from_url(url: &str, root: &Path) -> Result<Self> {
        Self::from_url_with(url, root, std::env::vars().filter(|(k, _)| k.starts_with("AWS_")))
    }

    /// As [`Blobs::from_url`], with S3 settings given as `(key, value)` pairs (`aws_endpoint`,
    /// `aws_access_key_id`, … in any case) instead of read from the environment.
    pub fn from_url_with(url: &str, root: &Path, options: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let store: Arc<dyn ObjectStore> = if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::bad_request(format!("blob URL '{url}': expected s3://bucket[/prefix]")));
            }
            let mut builder = object_store::aws::AmazonS3Builder::new().with_bucket_name(bucket);
            for (k, v) in options {
                match k.to_ascii_lowercase().parse::<object_store::aws::AmazonS3ConfigKey>() {
                    Ok(key) => builder = builder.with_config(key, v),
                    Err(_) => tracing::debug!(key = %k, "not an S3 setting; ignored"),
                }
            }
            let s3 = builder
                .build()
                .with_context(|| format!("configuring the S3 store for '{url}'"))?;
            let prefix = prefix.trim_matches('/');
            if prefix.is_empty() { Arc::new(s3) } else { Arc::new(PrefixStore::new(s3, prefix)) }
        } else if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
            Arc::new(LocalFileSystem::new_with_prefix(dir).context("opening the blob directory")?)
        } else {
            return Err(Error::bad_request(format!(
                "blob URL '{url}': the scheme is not supported; use s3://bucket[/prefix] or file:///path"
            )));
        };
        Ok(Blobs { store, tmp })
    }

    /// Checks the store answers (a listing of one key), so a misconfigured store fails at start.
    pub async fn check(&self) -> Result<()> {
        self.exists(&"0".repeat(64)).await.map(|_| ())
    }

    /// Random access to a stored file of known size (Parquet reads its footer, then column chunks).
    pub fn ranged(&self, sha256: &str, size: u64) -> RangedBlob {
        RangedBlob { store: self.store.clone(), key: key(sha256), size }
    }

    /// Removes temporary files of uploads cut short by a crash: those of a process that is no
    /// longer running (names start with the receiving process's id), and any older than an hour.
    /// `trellis serve` calls this at start; a live process's upload in progress is left alone.
    pub fn clear_stale_temp(&self) -> usize {
        let mut removed = 0;
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for entry in std::fs::read_dir(&self.tmp).into_iter().flatten().flatten() {
            let old = entry.metadata().and_then(|m| m.modified()).map(|t| t < hour_ago).unwrap_or(false);
            let owner_gone = entry
                .file_name()
                .to_str()
                .and_then(|n| n.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<i32>().ok())
                .is_some_and(|pid| !process_alive(pid));
            if (old || owner_gone) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    /// A fresh temporary file name, prefixed with this process's id.
    pub fn temp_path(&self) -> PathBuf {
        self.tmp.join(format!("{}-{}", std::process::id(), uuid::Uuid::new_v4()))
    }

    /// Streams a body into a temporary file, hashing it; refuses more than `limit` bytes.
    pub async fn receive<S, E>(&self, mut body: S, limit: u64) -> Result<Received>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.temp_path();
        let mut file = tokio::fs::File::create(&path).await.context("creating a temporary file")?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let result: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::bad_request(format!("upload interrupted: {e}")))?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(Error::PayloadTooLarge(format!("the file is larger than the limit of {limit} bytes")));
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await.context("writing a temporary file")?;
            }
            file.flush().await.context("writing a temporary file")?;
            Ok(())
        }
        .await;
        drop(file);
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
        Ok(Received { path, sha256: hex::encode(hasher.finalize()), size })
    }

    pub async fn exists(&self, sha256: &str) -> Result<bool> {
        match self.store.head(&key(sha256)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context("checking a blob").into()),
        }
    }

    /// Stores a local file under its hash (no-op if the content is already stored).
    pub async fn put_file(&self, sha256: &str, file: &Path) -> Result<()> {
        if self.exists(sha256).await? {
            return Ok(());
        }
        let upload = self.store.put_multipart(&key(sha256)).await.context("starting a blob upload")?;
        let mut writer = WriteMultipart::new(upload);
        let mut f = tokio::fs::File::open(file).await.context("reading a temporary file")?;
        let mut buf = vec![0u8; 8 << 20];
        loop {
            let n = f.read(&mut buf).await.context("reading a temporary file")?;
            if n == 0 {
                break;
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await.context("finishing a blob upload")?;
        Ok(())
    }

    /// Stores bytes under their hash (no-op if the content is already stored).
    pub async fn put_bytes(&self, sha256: &str, bytes: Vec<u8>) -> Result<()> {
        if self.exists(sha256).await? {
            return Ok(());
        }
        self.store.put(&key(sha256), bytes.into()).await.context("storing a blob")?;
        Ok(())
    }

    /// The blob as a stream of chunks.
    pub async fn stream(&self, sha256: &str) -> Result<futures::stream::BoxStream<'static, object_store::Result<Bytes>>> {
        let got = self.store.get(&key(sha256)).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => Error::not_found(format!("blob {sha256} is missing from storage")),
            other => anyhow::Error::new(other).context("reading a blob").into(),
        })?;
        Ok(got.into_stream())
    }

    /// The first `n` bytes of a blob of `size` bytes (previews).
    pub async fn head(&self, sha256: &str, size: u64, n: u64) -> Result<Bytes> {
        if size == 0 || n == 0 {
            return Ok(Bytes::new());
        }
        self.store.get_range(&key(sha256), 0..size.min(n)).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => Error::not_found(format!("blob {sha256} is missing from storage")),
            other => anyhow::Error::new(other).context("reading a blob").into(),
        })
    }

    /// The blob as a blocking reader, for use inside `spawn_blocking`: it streams from the store
    /// (no local copy) and stops fetching when dropped. Call from within the runtime.
    pub async fn reader(&self, sha256: &str) -> Result<Box<dyn std::io::Read + Send>> {
        let stream = self.stream(sha256).await?.map(|chunk| chunk.map_err(std::io::Error::other));
        Ok(Box::new(tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream))))
    }

    pub async fn delete(&self, sha256: &str) -> Result<()> {
        match self.store.delete(&key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context("deleting a blob").into()),
        }
    }
}

/// Whether a process with this id exists (signal 0 checks without sending anything).
fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::ESRCH) => false,
        Err(_) => true, // exists, owned by someone else
    }
}

/// A stored file read by byte ranges: only the parts a reader asks for are fetched.
#[derive(Clone, Debug)]
pub struct RangedBlob {
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    size: u64,
}

fn parquet_error(e: object_store::Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(Box::new(e))
}

impl parquet::arrow::async_reader::AsyncFileReader for RangedBlob {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> futures::future::BoxFuture<'_, parquet::errors::Result<Bytes>> {
        Box::pin(async move { self.store.get_range(&self.key, range).await.map_err(parquet_error) })
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> futures::future::BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        Box::pin(async move { self.store.get_ranges(&self.key, &ranges).await.map_err(parquet_error) })
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a parquet::arrow::arrow_reader::ArrowReaderOptions>,
    ) -> futures::future::BoxFuture<'a, parquet::errors::Result<Arc<parquet::file::metadata::ParquetMetaData>>> {
        Box::pin(async move {
            let size = self.size;
            let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .with_prefetch_hint(Some(64 * 1024))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        })
    }
}

/// The SHA-256 (hex) and size of a local file, read on a blocking thread.
pub async fn hash_file(path: &Path) -> Result<(String, u64)> {
    let owned = path.to_path_buf();
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut std::fs::File::open(&owned)?, &mut hasher)?;
        Ok((hex::encode(hasher.finalize()), size))
    })
    .await
    .map_err(anyhow::Error::from)?
    .map_err(|e| anyhow::anyhow!("reading {shown}: {e}").into())
}
