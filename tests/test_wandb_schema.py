"""Every GraphQL request openrlb sends to W&B is valid against W&B's schema.

No public schema file exists, so `tests/data/wandb_schema_subset.graphql` rebuilds the part openrlb
touches from W&B's own client code (each field names its source there). The requests checked are
the ones really sent: a fake server records (query, variables) of plain, `--metric` and Open RL
Benchmark filter fetches, and each document is validated and its variables coerced with graphql-core
(the reference implementation of the GraphQL spec).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_wandb import FakeRun, FakeWandb
from test_fetch_wandb import fetch, rows, spec_for

from openrlb_cli.fetch import wandb as wb
from openrlb_cli.rlops.filters import parse_groups
from openrlb_cli.store import Store

graphql = pytest.importorskip("graphql")

SCHEMA_FILE = Path(__file__).parent / "data" / "wandb_schema_subset.graphql"


@pytest.fixture(scope="module")
def schema():
    return graphql.build_schema(SCHEMA_FILE.read_text())


def problems(schema, query: str, variables: dict | None = None) -> list[str]:
    """Validation errors of the document, then coercion errors of the variables (empty: valid)."""
    try:
        document = graphql.parse(query)
    except graphql.GraphQLError as exc:
        return [f"syntax: {exc.message}"]
    errors = [e.message for e in graphql.validate(schema, document)]
    if errors or variables is None:
        return errors
    (operation,) = [d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode)]
    coerced = graphql.get_variable_values(schema, operation.variable_definitions or [], variables)
    return [e.message for e in coerced] if isinstance(coerced, list) else []


def test_schema_subset_builds_and_cites_a_source_for_every_field():
    text = SCHEMA_FILE.read_text()
    schema = graphql.build_schema(text)
    lines = text.splitlines()
    for type_name in ("Query", "Project", "RunConnection", "RunEdge", "PageInfo", "User", "Run", "ParquetHistory"):
        fields = schema.type_map[type_name].fields
        start = lines.index(f"type {type_name} {{")
        for name in fields:
            # the field's line in its type's block, or the comments right above it, name a source like [FR]
            idx = next(i for i, ln in enumerate(lines) if i > start and (ln.strip().startswith(f"{name}(") or
                                                                       ln.strip().startswith(f"{name}:")))
            context = [lines[idx]] + [ln for ln in lines[max(0, idx - 4):idx] if ln.strip().startswith("#")]
            assert any("[" in ln and "]" in ln.split("#", 1)[-1] for ln in context if "#" in ln), (type_name, name)


def test_the_query_strings_are_valid(schema):
    for query in (wb.RUNS_QUERY, wb.HISTORY_QUERY, wb.SAMPLED_QUERY):
        assert problems(schema, query) == [], query


def test_the_check_catches_what_the_real_server_rejects(schema):
    assert problems(schema, wb.RUNS_QUERY.replace("historyKeys", "historyKey"))  # unknown field
    assert problems(schema, wb.HISTORY_QUERY.replace("$minStep: Int64!", "$minStep: String!"))  # wrong type
    assert problems(schema, wb.SAMPLED_QUERY.replace("sampledHistory(specs: $specs)", "sampledHistory"))
    variables = {"entity": "e", "project": "p", "run": "r", "minStep": 0, "maxStep": 10, "pageSize": "many"}
    assert problems(schema, wb.HISTORY_QUERY, variables)  # pageSize is an Int
    assert problems(schema, wb.HISTORY_QUERY, {**variables, "pageSize": 2**40})  # Int is 32-bit
    assert problems(schema, wb.SAMPLED_QUERY, {"entity": "e", "project": "p", "run": "r", "specs": None})


def test_every_request_a_fetch_sends_is_valid(schema, tmp_path):
    with FakeWandb(record=True) as fake:
        for i in range(4):
            fake.add("ent", "proj", FakeRun(f"r{i}", config={"env_id": "Hopper-v4", "exp_name": "ppo", "seed": i},
                                            created_at=f"2024-01-01T00:00:0{i}", rows=rows(120 + i, eval_every=7)))
        (group,) = parse_groups([["?we=ent&wpn=proj&ceik=env_id&cen=exp_name&metric=eval/return", "ppo"]],
                                [["Hopper-v4"]])
        specs = [spec_for(fake, wb.WandbQuery("ent", "proj"), page_size=50),
                 spec_for(fake, wb.WandbQuery("ent", "proj", metrics=["charts/episodic_return"]), page_size=50),
                 spec_for(fake, *group.queries(), page_size=50)]
        for n, spec in enumerate(specs):
            with Store(tmp_path / f"s{n}.db") as store:
                assert fetch(store, spec).status == "ok"
        payloads = list(fake.payloads)
    operations = {graphql.parse(q).definitions[0].name.value for q, _ in payloads}
    assert operations == {"Runs", "HistoryPage", "SampledHistoryPage"}
    for query, variables in payloads:
        assert problems(schema, query, variables) == [], (query, json.dumps(variables))
