#!/usr/bin/env python3
"""The seed's producer, for the benchmark baseline.

Polls MySQL for rows whose `last_updated` is past the last position read,
serializes each row with confluent-kafka's AvroSerializer (Schema Registry),
keys it by str(id) and produces it; after each batch it flushes and saves the
position to a JSON file, as the seed did (`{"last_read_timestamp": ...}`).

The one addition to the seed's `WHERE last_updated > %s` is batching with
LIMIT, which needs the id as a tie-breaker (keyset pagination on
(last_updated, id)) or rows sharing a timestamp across a batch boundary would
be skipped; the id is kept in the position file as an optional
`last_read_id` (a file without it reads as the seed's).
"""

import argparse
import json
import os
import signal
import sys
import time
from datetime import datetime
from urllib.parse import unquote, urlparse

import mysql.connector
from confluent_kafka import KafkaException, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, StringSerializer

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

# The same client settings as the Rust pipeline's producer
# (host/src/kafka/client.rs), so the comparison is of designs, not settings.
PRODUCER_CONFIG = {
    "enable.idempotence": "true",
    "acks": "all",
    "linger.ms": "10",
    "compression.type": "lz4",
    "batch.size": "1000000",
    "batch.num.messages": "10000",
    "queue.buffering.max.messages": "500000",
    "message.timeout.ms": "300000",
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mysql-url", required=True, help="mysql://user[:password]@host[:port]/database")
    parser.add_argument("--table", default="product")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--registry", required=True, help="Schema Registry URL")
    parser.add_argument("--schema", required=True, help="the value's Avro schema (JSON file)")
    parser.add_argument("--position-file", required=True)
    parser.add_argument("--poll-interval", type=float, default=0.1, help="seconds between polls that found nothing")
    parser.add_argument("--batch-size", type=int, default=5000, help="rows per query")
    parser.add_argument("--stop-after-rows", type=int, default=0,
                        help="exit after this many rows were delivered (0: run until SIGTERM/SIGINT)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra librdkafka producer property (repeatable)")
    return parser.parse_args()


def mysql_params(url):
    parsed = urlparse(url)
    if parsed.scheme != "mysql":
        raise SystemExit(f"--mysql-url: expected mysql://..., got {url!r}")
    database = parsed.path.lstrip("/")
    if not database:
        raise SystemExit("--mysql-url: no database in the URL")
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": unquote(parsed.username or "root"),
        "password": unquote(parsed.password or ""),
        "database": unquote(database),
    }


def quote_identifier(name):
    return "`" + name.replace("`", "``") + "`"


def load_position(path):
    """(timestamp, id) from the position file; (None, None) when there is none."""
    try:
        with open(path) as file:
            document = json.load(file) or {}
    except FileNotFoundError:
        return None, None
    stamp = document.get("last_read_timestamp")
    if stamp is None:
        return None, None
    fmt = TIMESTAMP_FORMAT if "." in stamp else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(stamp, fmt), document.get("last_read_id")


def save_position(path, stamp, row_id):
    document = {"last_read_timestamp": stamp.strftime(TIMESTAMP_FORMAT), "last_read_id": row_id}
    temporary = f"{path}.tmp"
    with open(temporary, "w") as file:
        json.dump(document, file)
    os.replace(temporary, path)


class Source:
    """The MySQL side: one connection, reconnected after an error."""

    def __init__(self, params, table, batch_size):
        self.params = params
        self.batch_size = batch_size
        columns = "id, name, category, price, last_updated"
        table = quote_identifier(table)
        self.first_query = f"SELECT {columns} FROM {table} ORDER BY last_updated, id LIMIT {batch_size}"
        self.seed_query = (f"SELECT {columns} FROM {table} WHERE last_updated > %s "
                           f"ORDER BY last_updated, id LIMIT {batch_size}")
        self.next_query = (f"SELECT {columns} FROM {table} "
                           f"WHERE last_updated > %s OR (last_updated = %s AND id > %s) "
                           f"ORDER BY last_updated, id LIMIT {batch_size}")
        self.connection = None

    def connect(self):
        self.connection = mysql.connector.connect(autocommit=True, **self.params)
        cursor = self.connection.cursor()
        # DATETIME(6) holds UTC; keep the session from shifting anything.
        cursor.execute("SET time_zone = '+00:00'")
        cursor.close()

    def fetch(self, stamp, row_id):
        if self.connection is None:
            self.connect()
        cursor = self.connection.cursor()
        try:
            if stamp is None:
                cursor.execute(self.first_query)
            elif row_id is None:
                cursor.execute(self.seed_query, (stamp,))
            else:
                cursor.execute(self.next_query, (stamp, stamp, row_id))
            return cursor.fetchall()
        finally:
            cursor.close()

    def reset(self):
        try:
            if self.connection is not None:
                self.connection.close()
        except mysql.connector.Error:
            pass
        self.connection = None


def main():
    args = parse_args()
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    with open(args.schema) as file:
        schema_str = file.read()
    registry = SchemaRegistryClient({"url": args.registry})
    value_serializer = AvroSerializer(registry, schema_str)
    key_serializer = StringSerializer("utf_8")

    config = {"bootstrap.servers": args.bootstrap, **PRODUCER_CONFIG}
    for setting in args.set:
        key, _, value = setting.partition("=")
        config[key] = value
    producer = Producer(config)

    delivered = 0
    failed = 0

    def on_delivery(err, msg):
        nonlocal delivered, failed
        if err is not None:
            failed += 1
            print(f"delivery failed for key {msg.key()}: {err}", file=sys.stderr, flush=True)
        else:
            delivered += 1

    source = Source(mysql_params(args.mysql_url), args.table, args.batch_size)
    stamp, row_id = load_position(args.position_file)
    value_context = SerializationContext(args.topic, MessageField.VALUE)
    key_context = SerializationContext(args.topic, MessageField.KEY)
    print(f"producer: {args.table} -> {args.topic}, from {stamp} (id {row_id})", flush=True)

    while not stopping:
        try:
            rows = source.fetch(stamp, row_id)
        except mysql.connector.Error as error:
            print(f"mysql: {error}; reconnecting", file=sys.stderr, flush=True)
            source.reset()
            time.sleep(1.0)
            continue
        if not rows:
            producer.poll(0)
            time.sleep(args.poll_interval)
            continue

        for id_, name, category, price, last_updated in rows:
            value = {
                "id": id_,
                "name": name,
                "category": category,
                "price": float(price),
                "last_updated": last_updated,  # naive UTC datetime; fastavro encodes timestamp-micros
            }
            while True:
                try:
                    producer.produce(
                        args.topic,
                        key=key_serializer(str(id_), key_context),
                        value=value_serializer(value, value_context),
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    producer.poll(0.1)  # the local queue is full: let deliveries drain
            producer.poll(0)
        producer.flush()

        stamp, row_id = rows[-1][4], rows[-1][0]
        save_position(args.position_file, stamp, row_id)
        if args.stop_after_rows and delivered >= args.stop_after_rows:
            break

    remaining = producer.flush(30)
    print(f"producer: delivered {delivered}, failed {failed}, position {stamp} (id {row_id})", flush=True)
    source.reset()
    return 1 if remaining else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as error:
        print(f"kafka: {error}", file=sys.stderr)
        sys.exit(1)
