"""A local DynamoDB (moto's server) for Spin's `aws_dynamo` key-value store.

Starts moto's server in this process on a free loopback port, creates the table (a
string partition key `PK`, on-demand billing), prints one line

    AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:PORT

and serves until killed (SIGTERM or SIGINT). Usage, from the repository root:

    python3 -m venv target/dynamo-venv
    target/dynamo-venv/bin/pip install -r tests/dynamo/requirements.txt
    setsid target/dynamo-venv/bin/python tests/dynamo/moto.py [--table NAME] [--port N] > moto.out &

The table lives in memory: every start is empty.
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

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402


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
