"""State: the store contract (``api``), its local implementations, and the record codec.

``Store`` is the local store the controller opens: ``Store(data_root)``,
then ``put(kind, record)``, ``delete(kind, id)``, ``load(kind)``, ``close()``
(``api.RecordStore``), and ``.kv``, the async ``api.KVStore`` of the same
data.  The etcd store for global state implements ``api.KVStore`` beside it.
"""

from .api import (
    Compacted,
    EventType,
    KeyNotFound,
    KeyValue,
    KVStore,
    Listing,
    RecordStore,
    RevisionMismatch,
    Scope,
    StoreUnavailable,
    Watch,
    WatchEvent,
    kind_prefix,
    record_key,
)
from .memory import MemoryStore
from .sqlite import SQLiteStore

Store = SQLiteStore

__all__ = [
    "Compacted", "EventType", "KVStore", "KeyNotFound", "KeyValue", "Listing", "MemoryStore", "RecordStore",
    "RevisionMismatch", "SQLiteStore", "Scope", "Store", "StoreUnavailable", "Watch", "WatchEvent",
    "kind_prefix", "record_key",
]
