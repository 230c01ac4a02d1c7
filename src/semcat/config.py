"""The one Settings object. Built once (from ``SEMCAT_*`` environment variables, an
optional ``.env`` file, and explicit overrides from the CLI or the API factory) and
passed down; nothing below reads the environment itself.

Long module: every setting is declared here once, with its limits and its description
(the environment variables follow it; the CLI's help reads the descriptions; the bounds of
what a request may also set are the request's own, :class:`semcat.options.RequestOptions`)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, create_model, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from semcat.catalog.product import TEXT_FIELDS
from semcat.options import (
    QUANTIZATION,
    Backend,
    CalibrationOptions,
    HeadOptions,
    HnswOptions,
    Quantization,
    QueryOptions,
    RetrainOptions,
    ZeroShotOptions,
    query_fields,
    setting_names,
)

# the options' names before they were nested (Settings accepts them, as keywords and variables)
FLAT_NAMES = {
    "head_c": ("head", "c"),
    "head_chars": ("head", "chars"),
    "head_levels": ("head", "levels"),
    "head_max_products": ("head", "max_products"),
    "head_quiet_seconds": ("retrain", "quiet_seconds"),
    "head_max_stale_seconds": ("retrain", "max_stale_seconds"),
    "head_retrain_process": ("retrain", "child_process"),
    "zero_shot_level": ("zero_shot", "level"),
    "zero_shot_temperature": ("zero_shot", "temperature"),
    "faiss_hnsw_threshold": ("hnsw", "threshold"),
    "faiss_hnsw_m": ("hnsw", "m"),
    "faiss_ef_construction": ("hnsw", "ef_construction"),
    "faiss_ef_search": ("hnsw", "ef_search"),
    "calibration_folds": ("calibration", "folds"),
    "faiss_index": ("faiss", "index"),
    "qdrant_url": ("qdrant", "url"),
    "ray_address": ("ray", "address"),
    "ray_actors": ("ray", "actors"),
    "qdrant_api_key": ("qdrant", "api_key"),
    "qdrant_shard_number": ("qdrant", "shard_number"),
    "qdrant_replication_factor": ("qdrant", "replication_factor"),
    "qdrant_write_consistency_factor": ("qdrant", "write_consistency_factor"),
}


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump()
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else {}


# where a container's secrets are mounted (compose: /run/secrets/<name>); a setting may come
# from a file there named like its variable, lower case (semcat_api_key), beside the environment
SECRETS_DIR = os.environ.get("SEMCAT_SECRETS_DIR", "/run/secrets")
KEY_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")  # a named API key's name, as the history shows it
# an API key: printable ASCII without spaces. A browser sends a header as Latin-1 and curl as
# UTF-8, so a key with "é" would work from one and not the other; refused at start instead
API_KEY_CHARS = re.compile(r"[\x21-\x7e]{1,512}")


def check_api_key(key: str, what: str = "SEMCAT_API_KEY") -> str:
    if not API_KEY_CHARS.fullmatch(key):
        raise ValueError(
            f"{what}: 1 to 512 printable ASCII characters without spaces (letters, digits, punctuation); "
            "a browser cannot send other characters in a header the way curl does"
        )
    return key


def _unset_if_empty(value: object) -> object:
    # docker-compose passes ${VAR:-} as an empty string: that means "not set"
    return None if isinstance(value, str) and not value.strip() else value


class FaissSettings(BaseModel):
    """The FAISS store's own settings (``SEMCAT_FAISS__<FIELD>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: Literal["auto", "flat", "hnsw"] = Field(
        "auto", description="'flat' is exact inner product; 'auto' switches to HNSW at the threshold."
    )


class RayOptions(BaseModel):
    """Bulk indexing on Ray Data (``semcat index --executor ray``; ``SEMCAT_RAY__<FIELD>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = Field(
        None,
        description="A running Ray cluster (ray://host:10001, or 'auto' on one of its nodes). Unset: a local "
        "cluster is started for the run, on this machine's cores.",
    )
    cpus: int | None = Field(
        None, ge=1, le=4096, description="CPUs of the local cluster (unset: every core); ignored with an address."
    )
    actors: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="Embedding actors, each holding one copy of the model (unset: the cluster's CPUs divided by "
        "cpus_per_actor, or its GPUs with gpus_per_actor).",
    )
    cpus_per_actor: float = Field(1.0, gt=0, le=256, description="CPUs each embedding actor reserves (and embeds on).")
    gpus_per_actor: float = Field(
        0.0, ge=0, le=16, description="GPUs each embedding actor reserves (> 0: it embeds on 'cuda', backend torch)."
    )
    batch_rows: int = Field(
        1024, ge=1, le=65_536, description="Products per embedding call on an actor (and per write to the store)."
    )

    @field_validator("address", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return _unset_if_empty(value)


class QdrantSettings(BaseModel):
    """The Qdrant store's own settings (``SEMCAT_QDRANT__<FIELD>``): a server (or the
    embedded engine when ``url`` is unset) and a new collection's layout on a cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        None,
        description="Qdrant server URL (http://host:6333) or ':memory:'. "
        "Unset: embedded Qdrant (qdrant-edge, in this process) under data_dir/qdrant-edge.",
    )
    api_key: SecretStr | None = Field(None, description="API key for a Qdrant server.")
    # a Qdrant cluster (distributed mode): read when semcat creates the collection; unset = Qdrant's default
    shard_number: int | None = Field(
        None, ge=1, le=1024, description="Shards of a new collection (spread over the cluster's nodes)."
    )
    replication_factor: int | None = Field(
        None, ge=1, le=64, description="Copies of each shard on different nodes (2: a node can be lost)."
    )
    write_consistency_factor: int | None = Field(
        None, ge=1, le=64, description="Replicas that must acknowledge a write (at most the replication factor)."
    )
    quantization: Quantization = Field(
        QUANTIZATION,
        description="A new collection's dense vectors: 'int8', a quantized copy in RAM that the graph is built and "
        "searched on, every hit rescored with its float vector (scores stay exact); 'none': the floats alone.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return _unset_if_empty(value)

    @model_validator(mode="after")
    def _check(self) -> QdrantSettings:
        if self.api_key is not None and not self.url:
            raise ValueError("qdrant_api_key is set but qdrant_url is not")
        writes, copies = self.write_consistency_factor, self.replication_factor or 1
        if writes is not None and writes > copies:
            raise ValueError(
                f"qdrant_write_consistency_factor ({writes}) cannot exceed qdrant_replication_factor ({copies}): "
                "a write would wait for replicas that do not exist"
            )
        return self

    @property
    def server(self) -> bool:
        """Whether the settings name a Qdrant server (not the embedded engine, not ``:memory:``)."""
        return bool(self.url) and self.url != ":memory:"

    def cluster(self) -> dict[str, int]:
        """The cluster layout a new collection asks for (empty: Qdrant's defaults)."""
        layout = ("shard_number", "replication_factor", "write_consistency_factor")
        return {name: value for name in layout if (value := getattr(self, name)) is not None}


class _FlatNames(PydanticBaseSettingsSource):
    """SEMCAT_HEAD_C and the other flat variables of the nested options."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        environ = {key.upper(): value for key, value in os.environ.items()}
        nested: dict[str, dict[str, Any]] = {}
        for flat, (group, name) in FLAT_NAMES.items():
            if f"SEMCAT_{flat.upper()}" in environ:
                nested.setdefault(group, {})[name] = environ[f"SEMCAT_{flat.upper()}"]
        return nested


# the categorization options a setting gives (k, vote_power, predict_depth, ...): declared
# once, in semcat.options.QueryOptions, and made Settings fields here
_QuerySettings: type[BaseSettings] = create_model(
    "QuerySettings",
    __base__=BaseSettings,
    **{setting: query_fields()[name] for name, setting in setting_names().items()},  # type: ignore[call-overload]
)


class Settings(_QuerySettings):  # type: ignore[misc,valid-type]
    """semcat configuration. Every field can be set as ``SEMCAT_<FIELD>``; the
    categorization options (``k``, ``vote_power``, ``predict_depth``, ...) are
    :class:`semcat.options.QueryOptions`' fields."""

    model_config = SettingsConfigDict(
        env_prefix="SEMCAT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        validate_assignment=True,
        # docker / compose secrets: a file named after the variable (semcat_api_key) holds it
        secrets_dir=SECRETS_DIR if os.path.isdir(SECRETS_DIR) else None,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the flat names of the nested options, read after the new ones (SEMCAT_HEAD_C=2 still works)
        return init_settings, env_settings, _FlatNames(settings_cls), dotenv_settings, file_secret_settings

    # where things live
    data_dir: Path = Field(Path("semcat-data"), description="Directory for the embedded stores.")
    store: Literal["faiss", "qdrant"] = Field("faiss", description="Vector store backend.")
    collection: str = Field("products", description="Collection (index) name inside the store.")

    # each store backend's own settings (semcat.search.factory.BACKENDS names them)
    faiss: FaissSettings = Field(default_factory=FaissSettings, description="The FAISS store: SEMCAT_FAISS__INDEX.")
    qdrant: QdrantSettings = Field(
        default_factory=QdrantSettings,
        description="The Qdrant store: SEMCAT_QDRANT__URL, __API_KEY, and a cluster's __SHARD_NUMBER, "
        "__REPLICATION_FACTOR, __WRITE_CONSISTENCY_FACTOR.",
    )
    ray: RayOptions = Field(
        default_factory=RayOptions,
        description="`semcat index --executor ray`: SEMCAT_RAY__ADDRESS, __ACTORS, __CPUS_PER_ACTOR...",
    )
    hnsw: HnswOptions = Field(
        default_factory=HnswOptions,
        description="The HNSW index (FAISS above the threshold, embedded Qdrant): SEMCAT_HNSW__M, __EF_SEARCH...",
    )

    # embedding
    model: str = Field("minilm", description="Registry alias, local sentence-transformers folder, or hub name.")
    models_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "semcat" / "models",
        description="Where `semcat models prepare` writes models built offline (e.g. e5-small).",
    )
    device: str = Field("cpu", description="torch device for embedding.")
    clip_model: str = Field(
        "ViT-B-32", description="open_clip architecture used when model='clip' (open_clip.list_models())."
    )
    clip_pretrained: str = Field(
        "laion2b_s34b_b79k",
        description="open_clip weights when model='clip': a local weights file (.bin/.pt/.safetensors), or a "
        "pretrained tag fetched from the hub where a network exists, or 'random' (untrained weights, for tests).",
    )
    images_root: Path | None = Field(
        None,
        description="Folder the catalog's image column is resolved under (no path may leave it). Unset: "
        "images are not indexed. Used only by models that embed images (clip).",
    )
    image_max_pixels: int = Field(
        40_000_000, ge=1, description="Images with more pixels are refused (decompression-bomb guard)."
    )
    prefix_scheme: Literal["asymmetric", "symmetric", "none"] = Field(
        "symmetric",
        description="For models with role prefixes (E5): 'symmetric' = 'query: ' for stored products and queries "
        "(best kNN accuracy on flipkart-1050 and cdiscount, docs/benchmarks.md); 'asymmetric' = 'passage: ' for "
        "stored products, 'query: ' for queries; 'none' = no prefix.",
    )
    backend: Backend = Field(
        "onnx-int8",
        description="How text models run: 'onnx-int8' (default: exported once to ONNX with int8 weights, cached "
        "under models_dir/onnx; `semcat index` several times faster than fp32 torch on CPU, same accuracy: "
        "docs/benchmarks.md, 'Bulk indexing throughput'), "
        "'onnx' (fp32 ONNX, the torch vectors), 'torch' (sentence-transformers as is; needed for device other than "
        "cpu). int8 vectors carry their own model name: a store indexed with another backend is refused, with the "
        "setting that opens it.",
    )
    encode_threads: int = Field(
        0, ge=0, le=256, description="Threads that embed batches in parallel (onnx backends); 0 = the usable cores."
    )
    batch_size: int = Field(
        32,
        ge=1,
        le=4096,
        description="Most products embedded per batch (the onnx backends also cap a batch's padded tokens, so long "
        "texts go fewer to a batch); the bulk indexer hands the embedder many batches at a time, spread over "
        "encode_threads.",
    )
    max_tokens: int = Field(256, ge=8, le=8192, description="Token budget per product text.")
    text_fields: Annotated[list[str], NoDecode] = Field(
        list(TEXT_FIELDS), description="Product fields joined (in order) into the embedded text."
    )

    # categorization
    head: HeadOptions = Field(
        default_factory=HeadOptions, description="How the linear head is trained: SEMCAT_HEAD__C, __CHARS..."
    )
    retrain: RetrainOptions = Field(
        default_factory=RetrainOptions,
        description="When the head retrains after writes: SEMCAT_RETRAIN__QUIET_SECONDS, __CHILD_PROCESS...",
    )
    taxonomy_file: Path | None = Field(
        None,
        description="Category list for zero-shot/hybrid, one path per line ('A > B'); unset: the stored labels.",
    )
    zero_shot: ZeroShotOptions = Field(
        default_factory=ZeroShotOptions,
        description="How the zero-shot prior is built: SEMCAT_ZERO_SHOT__LEVEL, __TEMPERATURE.",
    )
    calibration: CalibrationOptions = Field(
        default_factory=CalibrationOptions,
        description="Whether and how the path confidence is learned: SEMCAT_CALIBRATION__ENABLED, __FOLDS.",
    )

    # HTTP service
    host: str = Field("127.0.0.1", description="Address `semcat serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `semcat serve` listens on.")
    api_key: SecretStr | None = Field(None, description="If set, write routes need it (X-API-Key header).")
    api_keys: Annotated[dict[str, SecretStr], NoDecode] = Field(
        default_factory=dict,
        description="Named API keys, `name:key,name:key`: each one opens the write routes like SEMCAT_API_KEY, "
        "and the label history records the name of the key a change was made with.",
    )
    insecure: bool = Field(
        False,
        description="Let `semcat serve` listen on a non-loopback address without an API key (writes open to "
        "anyone who reaches it). Off: it refuses to start that way.",
    )
    max_batch: int = Field(256, ge=1, le=100_000, description="Most items in one /categorize or /products call.")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest request body accepted.")
    max_header_bytes: int = Field(
        64 * 1024,
        ge=4096,
        le=16 * 1024 * 1024,
        description="Largest request head (request line and headers): 431 past it.",
    )
    max_headers: int = Field(100, ge=10, le=10_000, description="Most header fields in one request: 431 past it.")
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Seconds a client may take to send a request head (408 past it), and may pause while sending "
        "a body (the connection closes).",
    )
    body_timeout_s: float = Field(
        120.0, gt=0, le=3600, description="Seconds a client may take to send a whole request body (then it closes)."
    )
    keep_alive_s: int = Field(5, ge=1, le=600, description="Seconds an idle keep-alive connection stays open.")
    max_connections: int = Field(
        1000, ge=1, description="Connections the server holds at once; past it new requests get 503."
    )
    max_request_neighbors: int = Field(
        25_600,
        ge=1,
        description="Most neighbors one /categorize call may have searched and voted: items x k (256 items at "
        "the default k of 10, or 25 at k 1,000); more is a 413 naming the limit, before any work.",
    )
    max_request_listed: int = Field(
        2_560,
        ge=1,
        description="Most alternatives one /categorize call may have listed: items x top_n (each level lists "
        "top_n); more is a 413 naming the limit, before any work.",
    )
    request_time_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds of work one /categorize call may take: a batch is categorized a chunk of products at a "
        "time, and one not done when this has passed is a 503 naming how far it got (the chunk under way finishes).",
    )
    max_keyless_items: int = Field(
        512,
        ge=1,
        description="Products categorized at once for requests without an API key (when keys are set), summed over "
        "those requests: a request that would pass it waits its turn (at most 30 s, then 503 with Retry-After).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS (comma-separated); empty: CORS off."
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="API worker processes `semcat serve` runs on one port, each with its own model, store indexes "
        "and interpreter lock (they follow each other's writes and share the linear head); FAISS or a Qdrant server.",
    )
    microbatch: bool = Field(True, description="Merge concurrent /categorize embeddings into one model call.")
    microbatch_wait_ms: float = Field(2.0, ge=0.0, le=1000.0, description="How long a batch waits for company.")
    microbatch_max: int = Field(64, ge=1, le=4096, description="Most texts in one merged embedding call.")

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        value = _unset_if_empty(value)
        if isinstance(value, str | SecretStr):
            check_api_key(value.get_secret_value() if isinstance(value, SecretStr) else value)
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _named_keys(cls, value: object) -> object:
        """``name:key,name:key`` (the environment's form) or a mapping; names are shown in
        the label history, so they are short and plain; two names never share a key."""
        if isinstance(value, str):
            pairs: dict[str, str] = {}
            for part in (p.strip() for p in value.split(",")):
                if not part:
                    continue
                name, sep, key = part.partition(":")
                if not sep or not key.strip():
                    raise ValueError(f"a named key is written name:key; {name.strip()!r} has no key")
                if name.strip() in pairs:
                    raise ValueError(f"the key name {name.strip()!r} is given twice")
                pairs[name.strip()] = key.strip()
            value = pairs
        if isinstance(value, dict):
            for name in value:
                if not KEY_NAME.fullmatch(str(name)):
                    raise ValueError(f"key name {name!r}: 1 to 64 letters, digits, '.', '_', '@' or '-'")
            secrets = [v.get_secret_value() if isinstance(v, SecretStr) else str(v) for v in value.values()]
            for name, secret in zip(value, secrets, strict=True):
                check_api_key(secret, f"the key named {name!r}")
            if len(set(secrets)) < len(secrets):
                raise ValueError("two key names share one key: the history could not tell them apart")
        return value

    @field_validator("cors_origins", "text_fields", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("text_fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in TEXT_FIELDS]
        if unknown or not value:
            raise ValueError(f"text_fields must be a non-empty subset of {', '.join(TEXT_FIELDS)}; got {value}")
        return value

    @field_validator("collection")
    @classmethod
    def _safe_collection(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_" for c in value):
            raise ValueError("collection may hold only letters, digits, '-' and '_'")
        return value

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        """``head_c=2`` is ``head.c``, ``calibration=False`` is ``calibration.enabled``: the
        keywords these options had before they were nested (a keyword wins over the
        environment; the flat variables, SEMCAT_HEAD_C, come nested from :class:`_FlatNames`)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("calibration"), bool | str) and str(data["calibration"]).strip()[:1] not in "{[":
            data["calibration"] = {"enabled": data["calibration"]}
        for flat, (group, name) in FLAT_NAMES.items():
            if flat in data:
                value = data.pop(flat)
                nested = data.get(group)
                nested = dict(nested) if isinstance(nested, dict) else _as_dict(nested)
                nested[name] = value
                data[group] = nested
        return data

    @model_validator(mode="after")
    def _check(self) -> Settings:
        cluster = self.qdrant.cluster()
        if cluster and (self.store != "qdrant" or not self.qdrant.server):
            raise ValueError(
                f"{', '.join('qdrant_' + name for name in cluster)} apply to a Qdrant server: set store='qdrant' "
                "and qdrant_url (the embedded stores have no shards or replicas)"
            )
        if self.workers > 1 and self.store == "qdrant" and not self.qdrant.server:
            raise ValueError(
                f"workers={self.workers}: an embedded Qdrant collection belongs to one process; use the FAISS "
                "store or a Qdrant server (qdrant_url) for several API workers"
            )
        if self.backend != "torch" and self.device != "cpu":
            raise ValueError(
                f"backend {self.backend!r} runs on the CPU; set backend='torch' for device {self.device!r}"
            )
        return self

    def query_options(self, **overrides: object) -> QueryOptions:
        """The categorization options these settings give (every :class:`QueryOptions`
        field a setting of the same name holds; ``depth`` is ``predict_depth``), with a
        request's overrides (``None``: not given) applied."""
        given = {name: getattr(self, setting) for name, setting in QUERY_SETTINGS.items()}
        return QueryOptions(**given).merged(**overrides)

    def to_json(self) -> str:
        """Every setting, secrets included, for :meth:`from_json` in the API workers."""
        data = self.model_dump(mode="json")
        for group, name in (("", "api_key"), ("qdrant", "api_key")):
            secret = getattr(getattr(self, group) if group else self, name)
            if secret is not None:
                (data[group] if group else data)[name] = secret.get_secret_value()
        data["api_keys"] = {name: key.get_secret_value() for name, key in self.api_keys.items()}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        return cls(**json.loads(text))

    @property
    def keyed(self) -> bool:
        """Whether the write routes need a key (SEMCAT_API_KEY or a named one)."""
        return self.api_key is not None or bool(self.api_keys)

    def exposure_problem(self) -> str | None:
        """Why serving with these settings would be unsafe, or None: a non-loopback address
        with no API key leaves every write route open to whoever reaches the port."""
        if self.keyed or self.insecure or is_loopback(self.host):
            return None
        return (
            f"refusing to serve on {self.host} without an API key: anyone who reaches it could change the "
            "catalog. Set SEMCAT_API_KEY (clients send it as X-API-Key), or bind to 127.0.0.1, or pass "
            "--insecure (SEMCAT_INSECURE=true) to accept open writes"
        )

    def store_description(self) -> str:
        """Where the configured store lives, in words."""
        if self.store == "faiss":
            return f"faiss at {self.data_dir / 'faiss' / self.collection}"
        if self.qdrant.url:
            return f"qdrant at {self.qdrant.url} (collection {self.collection})"
        engine, where = self.embedded_qdrant()
        return f"qdrant (embedded {engine}) at {where} (collection {self.collection})"

    def embedded_qdrant(self) -> tuple[str, Path]:
        """Which engine keeps the embedded Qdrant collection, and where: ``local mode`` (the
        folder qdrant-client wrote, before semcat embedded qdrant-edge) when the data folder
        holds one, else ``qdrant-edge`` (its own folder per collection)."""
        legacy = self.data_dir / "qdrant"
        if (legacy / "collection" / self.collection).exists():
            return "local mode", legacy
        return "qdrant-edge", self.data_dir / "qdrant-edge" / self.collection


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    import ipaddress

    if host.strip().lower() in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname: it may resolve to anything


# the QueryOptions fields a setting gives, and that setting's name (the others, such as a
# request's category, have none)
QUERY_SETTINGS = setting_names()
