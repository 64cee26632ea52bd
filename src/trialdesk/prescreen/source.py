"""Opening an OMOP CDM database for Ibis: a DuckDB file or a Parquet folder (embedded default),
PostgreSQL, or a local/cluster Spark session."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from trialdesk.prescreen.duckdb_engine import DuckDBEngine

# The tables pre-screening reads (OMOP CDM v5.4); vocabulary is optional.
CLINICAL_TABLES = (
    "person",
    "observation_period",
    "condition_occurrence",
    "measurement",
    "drug_exposure",
)
VOCABULARY_TABLES = ("concept", "concept_ancestor")
BACKENDS = ("duckdb", "postgres", "spark")
# pyproject.toml pins duckdb below 2.0: ibis-framework 12 calls fetch_arrow_table(), which
# DuckDB 2.0 removed; 1.5 reads files written by 1.4 and 1.5.
SUPPORTED_DUCKDB = ">=1.4,<2 (1.5.x recommended)"


class SourceError(ValueError):
    """The OMOP database cannot be opened or lacks a table: says which and why."""


class IbisEngine:
    """PostgreSQL and Spark: the Ibis backend runs the expressions."""

    def __init__(self, backend: BaseBackend) -> None:
        self.backend = backend

    def to_pyarrow(self, expr: ir.Expr) -> Any:
        return self.backend.to_pyarrow(expr)

    def to_parquet(self, expr: ir.Table, path: Path) -> None:
        self.backend.to_parquet(expr, path)

    def read_parquet(self, path: Path) -> ibis.Table:
        return self.backend.read_parquet(path)

    def values(self, rows: Sequence[Mapping[str, Any]], schema: ibis.Schema) -> ibis.Table:
        import pyarrow as pa

        return ibis.memtable(pa.Table.from_pylist(list(rows), schema=schema.to_pyarrow()))


Engine = IbisEngine | DuckDBEngine


@dataclass
class OmopSource:
    """An OMOP database: the engine that runs Ibis expressions on it and the OMOP tables it
    holds, by (lower-case) name."""

    engine: Engine
    kind: str  # duckdb | postgres | spark
    tables: dict[str, ibis.Table]
    description: str
    closers: list[Any] = field(default_factory=list)

    def table(self, name: str) -> ibis.Table:
        try:
            return self.tables[name]
        except KeyError:
            raise SourceError(f"{self.description}: no OMOP table {name!r}") from None

    def has(self, name: str) -> bool:
        return name in self.tables

    def to_pyarrow(self, expr: ir.Expr) -> Any:
        """A table's rows as an Arrow table (a scalar's value as an Arrow scalar)."""
        return self.engine.to_pyarrow(expr)

    def to_parquet(self, expr: ir.Table, path: Path) -> None:
        """The rows written to `path` by the database itself."""
        self.engine.to_parquet(expr, path)

    def read_parquet(self, path: Path) -> ibis.Table:
        return self.engine.read_parquet(path)

    def values(self, rows: Sequence[Mapping[str, Any]], schema: ibis.Schema) -> ibis.Table:
        """A small table of `rows` (e.g. a plan's concept dimension) to join with."""
        return self.engine.values(rows, schema)

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection (DuckDB sources only): for SQL written by hand."""
        if not isinstance(self.engine, DuckDBEngine):
            raise SourceError(f"{self.description}: not a DuckDB database")
        return self.engine.con

    def descendants(self, ancestors: Iterable[int]) -> dict[int, set[int]]:
        """Descendant concept ids per ancestor, from concept_ancestor (empty without one)."""
        wanted = sorted(set(ancestors))
        if not wanted or not self.has("concept_ancestor"):
            return {}
        ca = self.table("concept_ancestor")
        rows = self.to_pyarrow(
            ca.filter(ca.ancestor_concept_id.isin(wanted)).select(
                "ancestor_concept_id", "descendant_concept_id"
            )
        ).to_pylist()
        found: dict[int, set[int]] = {}
        for row in rows:
            found.setdefault(int(row["ancestor_concept_id"]), set()).add(
                int(row["descendant_concept_id"])
            )
        return found

    def close(self) -> None:
        for closer in self.closers:
            closer()
        self.closers.clear()


def _check(tables: dict[str, ibis.Table], description: str) -> None:
    missing = [t for t in CLINICAL_TABLES if t not in tables]
    if missing:
        raise SourceError(f"{description}: missing OMOP table(s) {', '.join(missing)}")


def duckdb_open_problem(path: str | Path, exc: Exception) -> str:
    """Why a DuckDB file cannot be opened, saying which DuckDB wrote it when it is too new.

    DuckDB reads only the storage versions up to its own ([@DuckDB-storage]);
    a file from a newer DuckDB is not damaged, it needs that DuckDB, or an export/import.
    """
    import duckdb

    text = str(exc).splitlines()[0]
    if "created with a" in str(exc) or "newer version" in str(exc):
        return (
            f"{path}: written by a newer DuckDB than the {duckdb.__version__} installed here "
            f"({text}). trialdesk supports DuckDB {SUPPORTED_DUCKDB} (newest usable with "
            "ibis-framework 12); re-create the file with it (EXPORT DATABASE in the newer DuckDB, "
            "IMPORT DATABASE in this one) or give the Parquet folder instead"
        )
    return f"{path}: not a DuckDB database ({text})"


MEMORY_LIMIT_ENV = "TRIALDESK_DUCKDB_MEMORY_LIMIT"
# Issue #16: a pre-screen of 10,000,000 persons within 4 GB of memory. DuckDB's own default is
# 80 % of the machine's memory (it peaked at 15 GiB resident at 10M persons on a 24 GB machine);
# with 3 GB of buffer memory it spills sorts and aggregates to its temp directory instead
# (3.65 GiB resident measured) and anything smaller than that runs as before.
DEFAULT_MEMORY_LIMIT = "3GB"


def _limit_memory(con: duckdb.DuckDBPyConnection) -> None:
    """DuckDB's memory_limit: $TRIALDESK_DUCKDB_MEMORY_LIMIT (e.g. "8GB"; "default" keeps
    DuckDB's own), else `DEFAULT_MEMORY_LIMIT`. Above it DuckDB spills sorts, joins and
    aggregates to its temp directory instead of growing."""
    import os

    limit = os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT
    if limit.strip().lower() == "default":
        return
    try:
        con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    except Exception as exc:
        raise SourceError(f"{MEMORY_LIMIT_ENV}: {limit!r} is not a memory size ({exc})") from None


def open_duckdb(path: str | Path) -> OmopSource:
    """A DuckDB database file, or a folder of `<table>.parquet` files (or `<table>/` folders)."""
    path = Path(path)
    if path.is_dir():
        engine = DuckDBEngine(duckdb.connect())
        tables = {}
        for entry in sorted(path.iterdir()):
            name = entry.name.removesuffix(".parquet").lower()
            if entry.is_file() and entry.suffix == ".parquet":
                tables[name] = engine.view_of_parquet(name, str(entry))
            elif entry.is_dir() and any(entry.glob("*.parquet")):
                tables[name] = engine.view_of_parquet(name, str(entry / "*.parquet"))
        description = f"Parquet folder {path}"
    elif path.is_file():
        try:
            engine = DuckDBEngine(duckdb.connect(str(path), read_only=True))
        except Exception as exc:  # duckdb raises its own IOException types
            raise SourceError(duckdb_open_problem(path, exc)) from None
        tables = {n.lower(): engine.table(n) for n in engine.table_names()}
        description = f"DuckDB file {path}"
    else:
        raise SourceError(f"{path}: no such DuckDB file or Parquet folder")
    _check(tables, description)
    _limit_memory(engine.con)
    return OmopSource(engine, "duckdb", tables, description, [engine.close])


def open_postgres(url: str, schema: str | None = None) -> OmopSource:
    """A PostgreSQL database; `url` as SQLAlchemy writes it (postgresql+psycopg://…)."""
    from sqlalchemy.engine import make_url

    try:
        parts = make_url(url)
    except Exception:
        raise SourceError(f"--omop: {url!r} is not a database URL") from None
    try:
        con = ibis.postgres.connect(
            host=parts.host or "localhost",
            port=parts.port or 5432,
            user=parts.username,
            password=parts.password,
            database=parts.database,
        )
    except Exception as exc:
        raise SourceError(f"PostgreSQL {parts.host}/{parts.database}: {exc}") from None
    names = con.list_tables(database=schema) if schema else con.list_tables()
    tables = {n.lower(): con.table(n, database=schema) for n in names}
    description = f"PostgreSQL {parts.host}/{parts.database}" + (
        f" schema {schema}" if schema else ""
    )
    _check(tables, description)
    return OmopSource(IbisEngine(con), "postgres", tables, description, [con.disconnect])


def spark_session(cores: int = 2) -> Any:
    """A local Spark session sized for a laptop/CI box (Arrow transfer on, few partitions)."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("trialdesk-prescreen")
        .config("spark.sql.shuffle.partitions", str(max(2, cores * 2)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def open_spark(path: str | Path, session: Any | None = None) -> OmopSource:
    """A Parquet folder read by Spark (the distributed path), or a DuckDB file copied into Spark
    through Arrow (small data only: for tests and demonstrations)."""
    path = Path(path)
    session = session or spark_session()
    if path.is_dir():
        for entry in sorted(path.iterdir()):
            name = entry.name.removesuffix(".parquet").lower()
            if entry.suffix == ".parquet" or (entry.is_dir() and any(entry.glob("*.parquet"))):
                session.read.parquet(str(entry)).createOrReplaceTempView(name)
    elif path.is_file():
        import duckdb

        with duckdb.connect(str(path), read_only=True) as db:
            for (name,) in db.execute(
                "SELECT table_name FROM information_schema.tables"
            ).fetchall():
                frame = db.execute(f'SELECT * FROM "{name}"').df()
                session.createDataFrame(frame).createOrReplaceTempView(name.lower())
    else:
        raise SourceError(f"{path}: no such DuckDB file or Parquet folder")
    con = ibis.pyspark.connect(session)
    tables = {n.lower(): con.table(n) for n in con.list_tables()}
    description = f"Spark ({session.sparkContext.master}) reading {path}"
    _check(tables, description)
    return OmopSource(IbisEngine(con), "spark", tables, description)


def open_source(
    location: str | Path, backend: str = "duckdb", schema: str | None = None
) -> OmopSource:
    """Open `location` with `backend` (duckdb | postgres | spark)."""
    if backend == "duckdb":
        return open_duckdb(location)
    if backend == "postgres":
        return open_postgres(str(location), schema)
    if backend == "spark":
        return open_spark(location)
    raise SourceError(f"--backend: {backend!r} is not one of {', '.join(BACKENDS)}")
