//! # sluice-meta: the versioned metadata engine
//!
//! Owns everything Sluice knows about repositories, branches, commits and objects, and
//! nothing of HTTP, S3 or DataFusion. Object bytes go to a repository's storage namespace
//! through `object_store`, at fresh addresses, never overwritten; the metadata (entries,
//! trees, commits, branch heads, staging areas, multipart state) goes to a [`kv::Kv`]
//! store: the embedded redb file by default.
//!
//! A commit's tree is a sorted sequence of entries cut into content-defined, immutable
//! [ranges](range); ranges are listed by ranges of the level above (the metaranges), up to
//! one root. Commits share unchanged ranges by name, so commit, diff and merge cost follows
//! the size of the change, not of the repository. Branch heads move
//! only by compare-and-swap in the KV store, so several processes may share one store.
//!
//! Start with [`Engine`]: `Engine::open_embedded(dir)?.build()`.
#![warn(missing_docs)]

pub mod action_run;
pub mod backing;
pub mod branch;
pub mod clock;
pub mod commit;
pub mod diff;
mod encoding;
pub mod engine;
pub mod entry;
pub mod error;
pub mod external;
pub mod file_index;
mod fold;
pub mod gc;
mod handles;
pub mod import;
mod keys;
pub mod kv;
pub mod log;
mod mapped;
pub mod merge;
pub mod multipart;
mod node_codec;
pub mod object;
pub mod page;
pub mod protection;
pub mod range;
pub mod refs;
pub mod repo;
pub mod required_checks;
pub mod retention;
mod staging;
pub mod storage;
pub mod tag;
pub mod testing;
mod tree;
pub mod view;

pub use action_run::RunFilter;
pub use backing::{LinkRequest, StagingLocation};
pub use branch::Branch;
pub use clock::{Clock, ManualClock, SystemClock};
pub use commit::{Commit, CommitId, CommitRequest};
pub use diff::{ChangeKind, DiffEntry, DiffOptions, DiffPage};
pub use engine::{Engine, EngineBuilder, S3_MIN_PART_SIZE};
pub use entry::Entry;
pub use error::{Error, ErrorDetail, ErrorKind, Result};
pub use fold::FOLD_AFTER;
pub use gc::{GcOptions, GcReport};
pub use handles::HANDLE_TTL;
pub use import::{ImportKind, ImportLocation, ImportRequest, ImportStatus};
pub use log::{LogFilter, LogOptions, LogPage};
pub use merge::{MergeContext, MergeHook, MergeRefusal, MergeRequest, MergeStrategy};
pub use multipart::{Part, Upload};
pub use object::{CheckedBranch, PutOptions, WriteCondition};
pub use page::{Page, PageRequest};
pub use refs::ResolvedRef;
pub use repo::{Namespace, Repository};
pub use required_checks::RequiredCheck;
pub use retention::{BranchRetention, RetentionRules};
pub use storage::S3Settings;
pub use tag::Tag;
pub use view::{ListItem, ListOptions, ListPage};
