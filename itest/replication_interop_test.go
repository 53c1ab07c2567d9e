package itest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Readers of a whole replicated topic through other clients than
// franz-go; each returns what it read, in order, for checkStream.

// kcatReadAll reads every partition of topic from the beginning to its
// end with kcat (librdkafka's simple consumer) seeded with addr.
func kcatReadAll(t *testing.T, ctx context.Context, addr, topic string) []readRec {
	t.Helper()
	requireInterop(t, "kcat", "kcat", "-V")
	out := run(t, ctx, "", "kcat", "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-q",
		"-X", "broker.address.family=v4", "-f", `%p %o %s\n`)
	return mustParseReadLines(t, "kcat", out)
}

// confluentReadAll does the same with confluent-kafka-python.
func confluentReadAll(t *testing.T, ctx context.Context, addr, topic string) []readRec {
	t.Helper()
	requireInterop(t, "python3-confluent-kafka", "/usr/bin/python3", "-c", "import confluent_kafka")
	out := run(t, ctx, "", "/usr/bin/python3", "testdata/replicated_read.py", "--bootstrap", addr, "--topic", topic, "--timeout", "120")
	return mustParseReadLines(t, "confluent-kafka", out)
}

// kafkajsReadAll does the same with kafkajs (one consumer of a new group).
func kafkajsReadAll(t *testing.T, ctx context.Context, addr, topic string) []readRec {
	t.Helper()
	if os.Getenv("CHRONIK_SKIP_INTEROP") == "1" {
		t.Skip("CHRONIK_SKIP_INTEROP=1")
	}
	env := append(os.Environ(), "NODE_PATH="+kafkajsDir(t))
	probe := exec.Command("node", "-e", "require('kafkajs')")
	probe.Env = env
	if out, err := probe.CombinedOutput(); err != nil {
		t.Fatalf("kafkajs is not available (%v: %.300s); run `make deps` to install it", err, out)
	}
	cmd := exec.CommandContext(ctx, "node", "testdata/kafkajs_read.js", addr, topic, "js-read-"+topic, "120000")
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kafkajs: %v\n%s", err, stderr.String())
	}
	return mustParseReadLines(t, "kafkajs", string(out))
}

func mustParseReadLines(t *testing.T, reader, out string) []readRec {
	t.Helper()
	recs, err := parseReadLines(out)
	if err != nil {
		t.Fatalf("%s output: %v", reader, err)
	}
	return recs
}
