#!/usr/bin/python3
"""Read every partition of a topic from the beginning with confluent-kafka.

Assigns every partition (from list_topics) at OFFSET_BEGINNING and reads
until each one has reached its end (a partition EOF with no record after
it), then prints one line per record: "partition offset value". The Go
test (replication_interop_test.go) checks what was read.
"""
import argparse
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()
    deadline = time.time() + a.timeout
    c = Consumer({
        "bootstrap.servers": a.bootstrap,
        "broker.address.family": "v4",
        "group.id": "itest-replicated-read",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    md = c.list_topics(a.topic, timeout=10)
    parts = sorted(md.topics[a.topic].partitions.keys())
    c.assign([TopicPartition(a.topic, p, OFFSET_BEGINNING) for p in parts])
    at_eof = {p: False for p in parts}
    out = []
    while not all(at_eof.values()):
        if time.time() > deadline:
            sys.stderr.write("timeout: partitions at their end: %s\n" % at_eof)
            sys.exit(1)
        msgs = c.consume(10000, 0.5)
        for m in msgs:
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_eof[m.partition()] = True
                    continue
                sys.stderr.write("consume error: %s\n" % m.error())
                sys.exit(1)
            at_eof[m.partition()] = False
            out.append("%d %d %s\n" % (m.partition(), m.offset(), m.value().decode()))
    c.close()
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
