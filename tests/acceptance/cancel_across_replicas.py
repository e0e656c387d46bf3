"""Cancels across sluice replicas, with real clients: three replicas behind a
round-robin TCP forwarder (as behind a Kubernetes Service); asyncpg's `timeout=` and
psql's Ctrl-C send their CancelRequest on a new connection, which usually reaches
another replica than the query's. Every cancel must stop its query.

Usage: cancel_across_replicas.py --ports P1,P2,P3 --user U --password P --database D
       [--rounds N] [--psql PATH]
Prints PASS/FAIL per case and ends with `N passed, N failed`.
"""

import argparse
import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time

import asyncpg

SLEEP = 60


async def forwarder(ports):
    """A round-robin TCP forwarder over 127.0.0.1:ports; returns (server, counts)."""
    turn = itertools.cycle(range(len(ports)))
    counts = [0] * len(ports)

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(client_reader, client_writer):
        i = next(turn)
        counts[i] += 1
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", ports[i])
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, counts


async def asyncpg_timeouts(dsn, rounds):
    failed = 0
    for n in range(rounds):
        conn = await asyncpg.connect(dsn)
        started = time.monotonic()
        try:
            await conn.fetchval(f"select pg_sleep({SLEEP})", timeout=0.5)
            ok, why = False, "the query was not stopped"
        except asyncio.TimeoutError:
            # asyncpg cancelled the query; if the cancel went nowhere the connection
            # stays busy with the sleep and the next query times out.
            try:
                ok = await conn.fetchval("select 7", timeout=10) == 7
                why = "" if ok else "wrong answer after the cancel"
            except asyncio.TimeoutError:
                ok, why = False, "the cancel did not reach the query's replica"
        took = time.monotonic() - started
        await conn.close()
        print(f"{'PASS' if ok else 'FAIL'}: asyncpg timeout= round {n + 1} ({took:.2f}s) {why}")
        failed += not ok
    return failed


def psql_ctrl_c(psql, port, user, password, database, rounds):
    failed = 0
    env = dict(os.environ, PGPASSWORD=password)
    for n in range(rounds):
        proc = subprocess.Popen(
            [psql, "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", database,
             "-X", "-v", "ON_ERROR_STOP=1", "-c", f"select pg_sleep({SLEEP})"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        time.sleep(0.7)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
            ok = "canceling statement due to user request" in err
            why = "" if ok else f"psql said: {err.strip()}"
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            ok, why = False, "the cancel did not reach the query's replica"
        print(f"{'PASS' if ok else 'FAIL'}: psql Ctrl-C round {n + 1} {why}")
        failed += not ok
    return failed


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ports", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--database", required=True)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--psql", default="psql")
    a = p.parse_args()
    ports = [int(x) for x in a.ports.split(",")]
    server, counts = await forwarder(ports)
    port = server.sockets[0].getsockname()[1]
    dsn = f"postgresql://{a.user}:{a.password}@127.0.0.1:{port}/{a.database}"
    failed = await asyncpg_timeouts(dsn, a.rounds)
    failed += await asyncio.to_thread(
        psql_ctrl_c, a.psql, port, a.user, a.password, a.database, a.rounds
    )
    total = 2 * a.rounds
    print(f"connections per replica: {counts}")
    print(f"cancels across replicas: {total - failed} passed, {failed} failed")
    server.close()
    sys.exit(1 if failed else 0)


asyncio.run(main())
