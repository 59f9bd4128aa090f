"""A local DynamoDB (moto's server) for Spin's `aws_dynamo` key-value store.

Starts moto's server in this process on a free loopback port, creates the table (a
string partition key `PK`, on-demand billing), prints one line

    AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:PORT

and serves until killed (SIGTERM or SIGINT). Usage, from the repository root:

    python3 -m venv target/dynamo-venv
    target/dynamo-venv/bin/pip install -r tests/dynamo/requirements.txt
    setsid target/dynamo-venv/bin/python tests/dynamo/moto.py [--table NAME] [--port N] > moto.out &

The table lives in memory: every start is empty.

Two repairs make moto 5.2.6 a faithful DynamoDB for concurrent clients (both measured: 50
concurrent Add Versions on one image got the number 2 twice, because a racing increment's
failed condition undid the others' writes):

- `TransactWriteItems` (Spin's `increment` and compare-and-swap, R12) snapshots the whole
  table with `copy.deepcopy` before it runs and, when a condition fails, puts the snapshot
  back: every write other threads made meanwhile is lost, and each transaction costs time in
  proportion to the table. Spin sends one item a transaction, and moto checks an item's
  condition before writing it, so a failed one has written nothing: the snapshot of a
  table is made the table itself (the rollback changes nothing).
- Requests are served one at a time (a lock around moto's WSGI app), so a transaction's
  check and write are atomic against every other request, as DynamoDB's are.

`GET /__calls` answers the DynamoDB calls served so far by operation (`{"GetItem": 12, …}`):
the benchmark counts the requests a store call costs (`bench --calls`).
"""

import argparse
import os
import signal
import socket
import sys
import threading

# This file is named like the package it imports: take its own folder off the path first.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import copy  # noqa: E402
import json  # noqa: E402

import boto3  # noqa: E402
import moto.dynamodb.models as dynamodb_models  # noqa: E402
from moto.dynamodb.models.table import Table  # noqa: E402
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402


class _TableSnapshotIsTheTable:
    """`copy` as moto's DynamoDB models see it: a table's "snapshot" is the table."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


dynamodb_models.copy = _TableSnapshotIsTheTable()

_serial = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__
_calls: dict[str, int] = {}


def _one_at_a_time(self, environ, start_response):
    if environ.get("PATH_INFO") == "/__calls":
        with _serial:
            body = json.dumps(_calls).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    with _serial:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            op = target.rsplit(".", 1)[-1]
            _calls[op] = _calls.get(op, 0) + 1
        # moto builds the whole answer inside the call: the lock covers the request.
        return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _one_at_a_time


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="image-catalog")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    args = parser.parse_args()

    port = args.port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=args.region,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
    client.create_table(
        TableName=args.table,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=args.table)

    print(f"AWS_ENDPOINT_URL_DYNAMODB={endpoint}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
