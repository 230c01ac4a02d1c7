"""schemathesis with every check (conformance included) against the app, in-process with
the hash embedder: how many generated cases fail which check, per route.

    .venv/bin/python benchmarks/studies/schemathesis_conformance.py [--examples 15]

The suite (tests/unit/test_api_schemathesis.py) runs every check on a server without keys;
this study runs them on one with an API key (the key sent, as a client would), with the
suite's configuration and its exclusions (uploads and photos are not held to "a valid
request is accepted", nor values the schema itself refuses), and counts what fails per route.
Writes benchmarks/results/schemathesis_conformance.json.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

import hypothesis
import schemathesis
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from tests.conftest import HashEmbedder  # noqa: E402
from tests.unit import test_api_schemathesis as suite  # noqa: E402

from _common import publish  # noqa: E402
from semcat.api import create_app  # noqa: E402
from semcat.config import Settings  # noqa: E402
from semcat.engine import Engine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=15)
    args = parser.parse_args()
    settings = Settings(
        data_dir=tempfile.mkdtemp(), microbatch=False, max_batch=16, max_body_bytes=64 * 1024, api_key="k3y"
    )
    app = create_app(settings, engine=Engine(settings, embedder=HashEmbedder()))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=suite.CONFIG)
    suite.OPENAPI = app.openapi()  # the exclusions judge validity against this app's schema
    failures: collections.Counter[str] = collections.Counter()
    cases: collections.Counter[str] = collections.Counter()
    items = [
        {"id": "w1", "title": "analog wrist watch", "category": "Watches > Wrist"},
        {"id": "b1", "title": "baby romper", "category": "Baby Care"},
    ]
    with TestClient(app) as client:
        client.post("/products", json={"items": items}, headers={"X-API-Key": "k3y"})
        for result in schema.get_all_operations():
            operation = result.ok()

            @hypothesis.given(case=operation.as_strategy())
            @hypothesis.settings(
                max_examples=args.examples,
                deadline=None,
                suppress_health_check=list(hypothesis.HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case: schemathesis.Case) -> None:
                name = f"{case.operation.method.upper()} {case.operation.path}"
                cases[name] += 1
                key = f"{case.method} {case.path}"
                held = key not in suite.UPLOADS and not suite._carries_photo(case.body) and suite._valid_inputs(case)
                try:
                    case.call_and_validate(
                        headers={"X-API-Key": "k3y"}, excluded_checks=[] if held else [suite.POSITIVE_DATA]
                    )
                except BaseException as exc:  # a FailureGroup: one entry per check failed
                    for sub in getattr(exc, "exceptions", [exc]):
                        failures[f"{name}: {type(sub).__name__}"] += 1

            run()
    rows = [{"failure": key, "cases": count} for key, count in failures.most_common()]
    publish(
        "schemathesis_conformance",
        {"examples_per_route": args.examples, "cases": sum(cases.values()), "failures": rows},
    )
    print(f"{sum(cases.values())} cases over {len(cases)} routes")
    for row in rows:
        print(f"{row['cases']:4d}  {row['failure']}")


if __name__ == "__main__":
    main()
