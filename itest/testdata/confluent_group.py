#!/usr/bin/python3
"""Consume a topic in a consumer group with confluent-kafka (librdkafka),
committing by hand.

Subscribes with group GROUP (auto commit off, earliest reset), reads until
COUNT records arrived or TIMEOUT seconds passed (then IDLE more seconds to
catch records that should not come), commits synchronously every 50 records
and at the end, asks committed() for every assigned partition and closes.
Prints one JSON object; the Go test (TestConfluentKafkaPythonGroupManualCommit)
makes the assertions.
"""
import argparse
import json
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--idle", type=float, default=2)
    args = ap.parse_args()

    c = Consumer({
        "bootstrap.servers": args.bootstrap,
        "broker.address.family": "v4",
        "group.id": args.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    })
    c.subscribe([args.topic])
    records, errors, commit_errors = [], [], []
    since_commit = 0
    deadline = time.time() + args.timeout
    idle_until = None
    while True:
        now = time.time()
        if len(records) >= args.count and idle_until is None:
            idle_until = now + args.idle
        if now > deadline or (idle_until is not None and now > idle_until):
            break
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                errors.append(str(m.error()))
            continue
        records.append([m.partition(), m.offset(), m.value().decode()])
        since_commit += 1
        if since_commit >= 50:
            try:
                c.commit(asynchronous=False)
            except Exception as e:  # noqa: BLE001 - reported to the Go test
                commit_errors.append(str(e))
            since_commit = 0
    try:
        c.commit(asynchronous=False)
    except Exception as e:  # noqa: BLE001
        if "NO_OFFSET" not in str(e):
            commit_errors.append(str(e))
    tps = [TopicPartition(args.topic, p) for p in range(args.partitions)]
    committed = {tp.partition: tp.offset for tp in c.committed(tps, timeout=10)}
    c.close()
    print(json.dumps({"records": records, "errors": errors, "commit_errors": commit_errors,
                      "committed": committed}))


if __name__ == "__main__":
    main()
