//! Blob storage through `object_store`: a local directory by default. Keys are derived from the
//! content's SHA-256, never from user input. Uploads land in a local temporary file first and
//! reach the store only after validation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};
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

    /// Removes temporary files older than an hour: uploads cut short by a crash. (`trellis serve`
    /// calls this at start; younger files may belong to another process's upload in progress.)
    pub fn clear_stale_temp(&self) -> usize {
        let mut removed = 0;
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for entry in std::fs::read_dir(&self.tmp).into_iter().flatten().flatten() {
            let stale = entry.metadata().and_then(|m| m.modified()).map(|t| t < hour_ago).unwrap_or(false);
            if stale && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    pub fn temp_path(&self) -> PathBuf {
        self.tmp.join(uuid::Uuid::new_v4().to_string())
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

    /// The blob as a stream of chunks.
    pub async fn stream(&self, sha256: &str) -> Result<futures::stream::BoxStream<'static, object_store::Result<Bytes>>> {
        let got = self.store.get(&key(sha256)).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => Error::not_found(format!("blob {sha256} is missing from storage")),
            other => anyhow::Error::new(other).context("reading a blob").into(),
        })?;
        Ok(got.into_stream())
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
