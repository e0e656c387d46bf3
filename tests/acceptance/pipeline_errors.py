"""psycopg 3 pipelines with an error inside, through sluice: the error reaches the
client, and the session goes on. Three shapes, in turn over the connections:

- the three-statement pipeline of an autocommit connection with the error in the middle;
- a pipeline of 2 to 40 statements with the error at a random position;
- the same inside a transaction, followed by a rollback.

After each, the connection must answer `select 3`. Any other outcome (the session ends,
a wrong answer, no error) counts as a failure; the exit status is 1 when there is one.

Usage: pipeline_errors.py --dsn DSN [--connections 1000] [--seed N]
"""

import argparse
import logging
import random
import sys
import time

import psycopg


def autocommit_three(conn, rng):
    conn.autocommit = True
    try:
        with conn.pipeline():
            conn.execute("select 1")
            conn.execute("select 1/0")
            conn.execute("select 2")
    except psycopg.errors.DivisionByZero:
        pass
    else:
        raise AssertionError("the pipeline raised no error")


def long_pipeline(conn, rng, in_transaction=False):
    conn.autocommit = not in_transaction
    n = rng.randint(2, 40)
    bad = rng.randrange(n)
    try:
        with conn.pipeline():
            for i in range(n):
                conn.execute("select 1/0" if i == bad else "select %s::int", None if i == bad else (i,))
    except psycopg.errors.DivisionByZero:
        pass
    else:
        raise AssertionError("the pipeline raised no error")
    if in_transaction:
        conn.rollback()


SHAPES = [
    ("autocommit, 3 statements", autocommit_three),
    ("autocommit, 2-40 statements", long_pipeline),
    ("transaction + rollback, 2-40 statements", lambda c, r: long_pipeline(c, r, True)),
]


def main():
    # psycopg warns of every pipeline left with an error; that is the point here.
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    failures = {name: 0 for name, _ in SHAPES}
    examples = []
    started = time.monotonic()
    for i in range(args.connections):
        name, shape = SHAPES[i % len(SHAPES)]
        try:
            with psycopg.connect(args.dsn) as conn:
                shape(conn, rng)
                conn.autocommit = True
                value = conn.execute("select 3").fetchone()[0]
                if value != 3:
                    raise AssertionError(f"select 3 answered {value!r}")
        except Exception as e:  # every failure is counted, whatever its kind
            failures[name] += 1
            if len(examples) < 5:
                examples.append(f"{name}: {type(e).__name__}: {e}")
    took = time.monotonic() - started
    total = sum(failures.values())
    for name, n in failures.items():
        print(f"  {name}: {n} failed")
    for e in examples:
        print(f"  e.g. {e}")
    print(f"pipeline errors: {args.connections - total} passed, {total} failed "
          f"({args.connections} connections, seed {seed}, {took:.1f}s)")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
