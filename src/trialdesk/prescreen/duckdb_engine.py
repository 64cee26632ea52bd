"""The embedded default: Ibis expressions compiled by Ibis's DuckDB compiler and run through the
`duckdb` module itself.

Ibis's DuckDB *backend* converts every result through its pandas-aware data mapper, which
imports pandas (~0.2 s of a 1M-person pre-screen's ~5 s budget, issue #16) although trialdesk
never asks for a DataFrame. The compiler is the same one the backend uses
([@Ibis-DuckDB]): tables are declared to Ibis with the schema DuckDB reports (DESCRIBE, as the
backend does), expressions are compiled to DuckDB SQL and results are cast to the expression's
schema, as the backend's `to_pyarrow` does. Small tables (a plan's concept dimensions) are made
by `values`, not as Ibis memtables: registering Arrow data on a connection imports pandas too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa
import sqlglot.expressions as sge
from ibis.backends.sql.compilers.duckdb import compiler
from ibis.backends.sql.datatypes import DuckDBType


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    """`text` as an SQL string literal (e.g. a file path for COPY … TO)."""
    return "'" + text.replace("'", "''") + "'"


def _value(value: Any) -> sge.Expr:
    # A float travels as its shortest repr, read back by DuckDB's correctly rounded parser:
    # a decimal literal (0.0555…) would be a DECIMAL first and could end one ulp away.
    if isinstance(value, float):
        return sge.cast(sge.convert(repr(value)), "DOUBLE")
    return sge.convert(value)


def values_sql(rows: Sequence[Mapping[str, Any]], schema: ibis.Schema) -> str:
    """A few rows as DuckDB SQL (VALUES, each column cast to its type): small tables such as a
    plan's concept dimensions or the funnel, made without pyarrow building arrays from Python
    objects (which imports pandas: ~0.2 s of start-up, issue #16)."""
    names = list(schema.names)
    columns = ", ".join(
        f"CAST({_quoted(name)} AS {DuckDBType.to_string(schema[name])}) AS {_quoted(name)}"
        for name in names
    )
    nulls = [dict.fromkeys(names)]  # VALUES needs a row: one of NULLs, filtered out
    tuples = ", ".join(
        "(" + ", ".join(_value(row[name]).sql("duckdb") for name in names) + ")"
        for row in rows or nulls
    )
    aliases = ", ".join(_quoted(name) for name in names)
    where = "" if rows else " WHERE FALSE"
    return f"SELECT {columns} FROM (VALUES {tuples}) AS v({aliases}){where}"


@dataclass
class DuckDBEngine:
    """One DuckDB connection and the OMOP tables declared on it."""

    con: duckdb.DuckDBPyConnection
    _temporary: int = 0  # tables and views this engine made, for their names

    def table(self, name: str) -> ibis.Table:
        """The table or view `name` as an (unbound) Ibis table with DuckDB's schema."""
        rows = self.con.execute(f"DESCRIBE {_quoted(name)}").fetchall()
        schema = {
            column: DuckDBType.from_string(kind, nullable=null == "YES")
            for column, kind, null, *_ in rows
        }
        return ibis.table(schema, name=name)

    def table_names(self) -> list[str]:
        return [name for (name,) in self.con.execute("SHOW TABLES").fetchall()]

    def view_of_parquet(self, name: str, location: str) -> ibis.Table:
        """`name` as a view of the Parquet file(s) at `location` (a path or a glob)."""
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW {_quoted(name)} AS "
            f"SELECT * FROM read_parquet({sql_string(location)})"
        )
        return self.table(name)

    def _fresh_name(self, kind: str) -> str:
        self._temporary += 1
        return f"trialdesk_{kind}_{self._temporary}"

    def values(self, rows: Sequence[Mapping[str, Any]], schema: ibis.Schema) -> ibis.Table:
        """A small table of `rows` (a temporary table of this connection)."""
        name = self._fresh_name("values")
        self.con.execute(f"CREATE TEMP TABLE {_quoted(name)} AS {values_sql(rows, schema)}")
        return self.table(name)

    def sql(self, expr: ir.Expr) -> str:
        """DuckDB SQL for `expr`."""
        query = compiler.to_sqlglot(expr.as_table())
        return str(query.sql(dialect="duckdb", copy=False))

    def to_pyarrow(self, expr: ir.Expr) -> Any:
        """A table expression's rows as an Arrow table (a scalar's value as an Arrow scalar),
        in the expression's own schema."""
        table = expr.as_table()
        result = self.con.sql(self.sql(table)).to_arrow_table()
        result = result.cast(table.schema().to_pyarrow())
        if isinstance(expr, ir.Scalar):
            return result.column(0)[0] if result.num_rows else pa.scalar(None)
        if isinstance(expr, ir.Column):
            return result.column(0)
        return result

    def to_parquet(self, expr: ir.Table, path: Path) -> None:
        """The rows written by DuckDB itself (streamed: never held in Python or Arrow)."""
        self.con.execute(f"COPY ({self.sql(expr)}) TO {sql_string(str(path))} (FORMAT 'parquet')")

    def read_parquet(self, path: Path) -> ibis.Table:
        """A Parquet file written earlier (e.g. the ranked list), as a table to query."""
        return self.view_of_parquet(self._fresh_name("file"), str(path))

    def close(self) -> None:
        self.con.close()
