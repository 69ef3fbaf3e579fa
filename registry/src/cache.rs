//! A per-process cache of production models with a byte budget: a key's current
//! production model is loaded from the production registry on a miss, the least
//! recently used models are evicted to stay within the budget, and promotion or
//! rollback events replace a key's current version at once.
//!
//! The cache knows every key's current version from the production table (read
//! when it opens and again on [`refresh`](ModelCache::refresh)); only models are
//! loaded on demand. However many models the registry holds, the cached models'
//! bytes never exceed the budget.
//!
//! Concurrent misses for one key share one load (a burst of requests for a cold
//! key reads its artifact once), and artifacts on this machine are read on a
//! blocking thread, never on the async runtime's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::NaiveDate;
use herd_lake::{LakeRoot, tables};
use herd_models::Model;
use herd_schemas::{ModelEvent, ModelEventKind, SeriesKey};
use lru::LruCache;

use crate::artifact::{ArtifactStore, read, read_local};
use crate::error::{RegistryError, Result};
use crate::production::{PRODUCTION_TABLE, ProductionEntry, ProductionRegistry, production_table};

/// What the cache knows of a key's current production model without loading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub version: i64,
    pub artifact: String,
    pub model_type: Option<String>,
    pub data_end: Option<NaiveDate>,
}

impl From<&ProductionEntry> for Current {
    fn from(entry: &ProductionEntry) -> Self {
        Self {
            version: entry.version,
            artifact: entry.artifact.clone(),
            model_type: entry.model_type.clone(),
            data_end: entry.data_end,
        }
    }
}

/// A loaded production model.
#[derive(Debug)]
pub struct CachedModel {
    pub key: SeriesKey,
    pub version: i64,
    pub model_type: Option<String>,
    pub model: Model,
    /// What the model counts against the budget.
    pub bytes: usize,
}

/// Counters since the cache opened, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    /// Models loaded from the production registry.
    pub loads: u64,
    pub load_seconds_total: f64,
    pub load_errors: u64,
    /// Models and bytes held now, and the budget.
    pub entries: usize,
    pub bytes: usize,
    pub budget_bytes: usize,
    /// Keys with a production model.
    pub production_keys: usize,
}

struct Held {
    models: LruCache<SeriesKey, Arc<CachedModel>>,
    bytes: usize,
}

/// One load of a key's version, awaited by every miss that wants it.
type Flight = Arc<tokio::sync::OnceCell<Result<Arc<CachedModel>, Arc<RegistryError>>>>;

/// The cache; share it behind an `Arc`.
pub struct ModelCache {
    root: LakeRoot,
    store: RwLock<Option<ArtifactStore>>,
    /// The production table's directory when the registry is on this machine:
    /// artifacts are then read straight from the file system.
    local_dir: Option<PathBuf>,
    current: RwLock<HashMap<SeriesKey, Current>>,
    held: Mutex<Held>,
    /// Loads under way, by key and version.
    loading: Mutex<HashMap<(SeriesKey, i64), Flight>>,
    budget: usize,
    /// The production table's version as last read, and whether an event changed a
    /// key's current version since: only then does a refresh read every entry again.
    read_version: Mutex<Option<u64>>,
    applied_since_read: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    loads: AtomicU64,
    load_nanos: AtomicU64,
    load_errors: AtomicU64,
}

impl ModelCache {
    /// A cache of at most `budget_bytes` of models from the production registry
    /// under `root`, which it reads now (an empty registry when none exists yet).
    pub async fn open(root: &LakeRoot, budget_bytes: usize) -> Result<Self> {
        let local_dir = if root.is_local() {
            root.table_url(PRODUCTION_TABLE)?.to_file_path().ok()
        } else {
            None
        };
        let cache = Self {
            root: root.clone(),
            store: RwLock::new(None),
            local_dir,
            current: RwLock::new(HashMap::new()),
            held: Mutex::new(Held {
                models: LruCache::unbounded(),
                bytes: 0,
            }),
            loading: Mutex::new(HashMap::new()),
            budget: budget_bytes,
            read_version: Mutex::new(None),
            applied_since_read: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            load_nanos: AtomicU64::new(0),
            load_errors: AtomicU64::new(0),
        };
        cache.refresh().await?;
        Ok(cache)
    }

    /// Reads the production table again: every key's current version. Cached
    /// models of keys whose version changed are dropped. Nothing is read beyond the
    /// table's log while the table is at the version last read and no event changed
    /// what it says: reading 100,000 entries costs about a second of CPU.
    pub async fn refresh(&self) -> Result<usize> {
        let last = *lock(&self.read_version);
        if last.is_some() && !self.applied_since_read.load(Ordering::Acquire) {
            let table = tables::open_existing(&self.root, &production_table()).await?;
            if table.is_some_and(|t| t.version() == last) {
                return Ok(read_lock(&self.current).len());
            }
        }
        // An event applied while the table is read makes the next refresh read it.
        self.applied_since_read.store(false, Ordering::Release);
        let Some(registry) = ProductionRegistry::open_existing(&self.root).await? else {
            return Ok(0);
        };
        let current: HashMap<SeriesKey, Current> = registry
            .all_current()
            .map(|e| (e.key.clone(), Current::from(e)))
            .collect();
        let keys = current.len();
        *write(&self.store) = Some(registry.artifact_store());
        let stale: Vec<SeriesKey> = {
            let held = lock(&self.held);
            held.models
                .iter()
                .filter(|(key, m)| current.get(*key).is_none_or(|c| c.version != m.version))
                .map(|(key, _)| key.clone())
                .collect()
        };
        *write(&self.current) = current;
        *lock(&self.read_version) = registry.version();
        for key in stale {
            self.forget(&key);
        }
        Ok(keys)
    }

    /// Applies a `promoted` or `rolled_back` event: the key's current version is the
    /// event's from now on. Returns whether the event changed anything.
    pub fn apply(&self, event: &ModelEvent) -> bool {
        if !matches!(
            event.event,
            ModelEventKind::Promoted | ModelEventKind::RolledBack
        ) {
            return false;
        }
        let Some(artifact) = event.artifact.clone() else {
            return false;
        };
        let next = Current {
            version: event.version,
            artifact,
            model_type: event.model_type.clone(),
            data_end: None,
        };
        let changed = {
            let mut current = write(&self.current);
            let changed = current
                .get(&event.key)
                .is_none_or(|c| c.version != next.version);
            current.insert(event.key.clone(), next);
            changed
        };
        if changed {
            self.applied_since_read.store(true, Ordering::Release);
            self.forget(&event.key);
        }
        changed
    }

    /// What the cache knows of `key`'s current production model.
    pub fn current(&self, key: &SeriesKey) -> Option<Current> {
        read_lock(&self.current).get(key).cloned()
    }

    /// Every key with a production model.
    pub fn keys(&self) -> Vec<SeriesKey> {
        read_lock(&self.current).keys().cloned().collect()
    }

    /// `key`'s current production model, loaded on a miss; `None` when the key has
    /// no production model.
    pub async fn get(&self, key: &SeriesKey) -> Result<Option<Arc<CachedModel>>> {
        // A hit needs only the current version; what to load is read on a miss.
        let Some(version) = read_lock(&self.current).get(key).map(|c| c.version) else {
            return Ok(None);
        };
        if let Some(model) = self.held_at(key, version) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(model));
        }
        // The current version may have changed since; what is current now is loaded.
        let Some(current) = self.current(key) else {
            return Ok(None);
        };
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.load_once(key, &current).await.map(Some)
    }

    /// `key`'s model at `current`, loaded by the first miss and awaited by the
    /// others that arrive meanwhile; should the first give up (its request was
    /// dropped), the next waiter loads it.
    async fn load_once(&self, key: &SeriesKey, current: &Current) -> Result<Arc<CachedModel>> {
        let id = (key.clone(), current.version);
        let flight = Arc::clone(lock(&self.loading).entry(id.clone()).or_default());
        let loaded = flight
            .get_or_init(|| async {
                // A load that finished between this request's miss and its flight
                // left the model held (it is held before its flight is removed).
                if let Some(model) = self.held_at(key, current.version) {
                    return Ok(model);
                }
                let loaded = self.load(key, current).await;
                let loaded = loaded.map(Arc::new).map_err(Arc::new);
                if let Ok(model) = &loaded {
                    self.insert(Arc::clone(model));
                }
                loaded
            })
            .await
            .clone();
        {
            let mut loading = lock(&self.loading);
            if loading.get(&id).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                loading.remove(&id);
            }
        }
        loaded.map_err(|e| shared_error(&e, &current.artifact))
    }

    /// `key`'s model if the cache holds it at `version`.
    fn held_at(&self, key: &SeriesKey, version: i64) -> Option<Arc<CachedModel>> {
        lock(&self.held)
            .models
            .get(key)
            .filter(|model| model.version == version)
            .map(Arc::clone)
    }

    async fn load(&self, key: &SeriesKey, current: &Current) -> Result<CachedModel> {
        let started = Instant::now();
        let loaded = async {
            let bytes = match &self.local_dir {
                Some(dir) => {
                    let (dir, artifact) = (dir.clone(), current.artifact.clone());
                    tokio::task::spawn_blocking(move || read_local(&dir, &artifact))
                        .await
                        .map_err(|e| RegistryError::Artifact {
                            path: current.artifact.clone(),
                            reason: format!("reading it failed: {e}"),
                        })??
                }
                None => {
                    let store = read_lock(&self.store).clone().ok_or_else(|| {
                        RegistryError::Corrupt(
                            "a production model is known but no registry is open".into(),
                        )
                    })?;
                    read(store.as_ref(), &current.artifact).await?
                }
            };
            Model::from_bytes(&bytes).map_err(|e| RegistryError::Artifact {
                path: current.artifact.clone(),
                reason: e.to_string(),
            })
        }
        .await;
        self.load_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let model = match loaded {
            Ok(model) => model,
            Err(e) => {
                self.load_errors.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        self.loads.fetch_add(1, Ordering::Relaxed);
        let bytes =
            model.approx_heap_bytes() + size_of::<CachedModel>() + 2 * key.to_string().len();
        Ok(CachedModel {
            key: key.clone(),
            version: current.version,
            model_type: current.model_type.clone(),
            model,
            bytes,
        })
    }

    /// Holds `model`, evicting the least recently used until within the budget. A
    /// model larger than the whole budget is served but not kept.
    fn insert(&self, model: Arc<CachedModel>) {
        if model.bytes > self.budget {
            return;
        }
        let mut held = lock(&self.held);
        if let Some(old) = held.models.put(model.key.clone(), Arc::clone(&model)) {
            held.bytes -= old.bytes;
        }
        held.bytes += model.bytes;
        while held.bytes > self.budget {
            let Some((_, evicted)) = held.models.pop_lru() else {
                break;
            };
            held.bytes -= evicted.bytes;
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn forget(&self, key: &SeriesKey) {
        let mut held = lock(&self.held);
        if let Some(old) = held.models.pop(key) {
            held.bytes -= old.bytes;
        }
    }

    pub fn stats(&self) -> CacheStats {
        let (entries, bytes) = {
            let held = lock(&self.held);
            (held.models.len(), held.bytes)
        };
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            loads: self.loads.load(Ordering::Relaxed),
            load_seconds_total: self.load_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            load_errors: self.load_errors.load(Ordering::Relaxed),
            entries,
            bytes,
            budget_bytes: self.budget,
            production_keys: read_lock(&self.current).len(),
        }
    }
}

/// A load's error as each of its waiters gets it: the artifact and the reason.
fn shared_error(error: &RegistryError, artifact: &str) -> RegistryError {
    match error {
        RegistryError::Artifact { path, reason } => RegistryError::Artifact {
            path: path.clone(),
            reason: reason.clone(),
        },
        other => RegistryError::Artifact {
            path: artifact.to_owned(),
            reason: other.to_string(),
        },
    }
}

// A poisoned lock means a panic while holding it; the data (counters, an LRU
// list) is still consistent enough to serve, so go on with it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
