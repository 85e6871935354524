"""Wide random API fuzzing: schemathesis over /api with a seed and as many examples per operation as you like.

    DATABASE_URL=postgres://root@127.0.0.1:5432/postgres .venv/bin/python benchmarks/api_fuzz.py \\
        [--seed 12345] [--examples 500] [-k adapters] [-x]

CI runs the same checks derandomized with a small, fixed example count (tests/security/test_api_fuzz.py) so that
no random draw decides a landing; this script is the long run of it: a random seed unless one is given (printed
either way so a finding can be replayed), the same checks (no 5xx, responses match the schema, auth enforced,
schema-violating requests refused except where a query string cannot carry the violation) and the same
authenticated staff user. Runs against a scratch test database (pytest-django creates and drops it; name from
$RMN_TEST_DB_NAME, default test_rmn_api_fuzz) and a scratch data root. Prints each failure with a curl line to reproduce it, then a
one-line summary; exits non-zero when anything failed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES_ENV = "RMN_API_FUZZ_EXAMPLES"

if __name__ != "__main__":
    # Collected by pytest (started from main() below): the same schema, checks and user as the CI fuzz test.
    from hypothesis import HealthCheck, settings

    from tests.security.test_api_fuzz import build_schema, excluded_checks_for, fuzz_headers  # noqa: F401

    schema = build_schema()

    @pytest.mark.django_db
    @schema.parametrize()
    @settings(
        max_examples=int(os.environ.get(EXAMPLES_ENV, "200")),
        derandomize=False,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def test_api_fuzz_wide(case, fuzz_headers):  # noqa: F811 - the fixture imported above
        case.call_and_validate(headers=fuzz_headers, excluded_checks=excluded_checks_for(case))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (random when omitted)")
    parser.add_argument("--examples", type=int, default=200, help="examples per API operation (default 200)")
    parser.add_argument("-k", dest="keyword", default=None, help="only operations matching this pytest -k")
    parser.add_argument(
        "-x", dest="exitfirst", action="store_true", help="stop at the first failing operation"
    )
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error("--examples must be at least 1")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)

    os.chdir(REPO)
    sys.path.insert(0, str(REPO))
    os.environ[EXAMPLES_ENV] = str(args.examples)
    os.environ.setdefault("RMN_TEST_DB_NAME", "test_rmn_api_fuzz")
    # Requests that write files (uploads, registrations) land in a scratch data root, never in var/data.
    scratch = tempfile.TemporaryDirectory(prefix="rmn-api-fuzz-")
    os.environ["RMN_DATA_ROOT"] = scratch.name
    print(f"api_fuzz: seed {seed}, {args.examples} examples per operation", flush=True)
    pytest_args = [
        str(Path(__file__).resolve()),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--import-mode=importlib",
        "--rootdir",
        str(REPO),
        f"--hypothesis-seed={seed}",
        "--timeout=0",
        "-o",
        "addopts=",
        "--tb=short",
    ]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    if args.exitfirst:
        pytest_args.append("-x")
    try:
        code = int(pytest.main(pytest_args))
    finally:
        scratch.cleanup()
    verdict = "no failures" if code == 0 else f"FAILURES (pytest exit {code})"
    print(f"api_fuzz: {verdict}; replay with --seed {seed} --examples {args.examples}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
