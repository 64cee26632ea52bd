"""Helpers shared by the pre-screening tests (plan and compiled truths)."""

from __future__ import annotations

import os
from datetime import date

import pyarrow as pa

from trialdesk.prescreen.plan import Plan, Settings, build_plan
from trialdesk.prescreen.query import MET, NOT_MET, build_query
from trialdesk.prescreen.source import OmopSource
from trialdesk.protocol import builtin_protocol

PG_URL = os.environ.get("TRIALDESK_TEST_POSTGRES_URL")
_PG_TYPES = {
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.float64(): "DOUBLE PRECISION",
    pa.string(): "TEXT",
    pa.date32(): "DATE",
    pa.timestamp("s"): "TIMESTAMP",
}
INDEX = date(2025, 6, 30)
PERSONS = 500


def plan_for(source: OmopSource, index: date = INDEX, lookback: int = 365) -> Plan:
    return build_plan(builtin_protocol(), Settings(index, lookback), source.descendants)


def ibis_truths(source: OmopSource, plan: Plan) -> dict[int, dict[str, bool | None]]:
    """Per person, per EHR criterion: True / False / None, from the compiled query."""
    rows = source.to_pyarrow(build_query(source, plan).table).to_pylist()
    return {
        int(r["person_id"]): {
            c.id: {MET: True, NOT_MET: False}.get(r[c.id]) for c in plan.ehr_criteria
        }
        for r in rows
    }


def load_postgres(tables: dict[str, pa.Table], schema: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL or "")
    with psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
    ) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
        for name, table in tables.items():
            columns = ", ".join(f'"{f.name}" {_PG_TYPES[f.type]}' for f in table.schema)
            con.execute(f'CREATE TABLE "{schema}"."{name}" ({columns})')
            names = ", ".join(f'"{n}"' for n in table.column_names)
            with con.cursor().copy(f'COPY "{schema}"."{name}" ({names}) FROM STDIN') as copy:
                for row in table.to_pylist():
                    copy.write_row(list(row.values()))


def drop_postgres(schema: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL or "")
    with psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
    ) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
