package group

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// within runs op and fails when it does not return within 10 s. A stall
// means a lock cycle: the coordinator is stuck for good, so the watchdog
// prints every goroutine and exits rather than run cleanups that would
// wait on the same locks.
func within(t *testing.T, what string, op func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(10 * time.Second):
		buf := make([]byte, 1<<20)
		fmt.Fprintf(os.Stderr, "--- FAIL: %s: %s stalled for 10 s: a coordinator lock is held across a Host call that calls back\n%s",
			t.Name(), what, buf[:runtime.Stack(buf, true)])
		os.Exit(1)
	}
}

// errOf turns a Kafka error code into an error (nil for 0).
func errOf(what string, code int16) error {
	if code == 0 {
		return nil
	}
	return fmt.Errorf("%s: %v", what, kerr.ErrorForCode(code))
}

// The Host calls that may block or call back into the coordinator —
// CreateTopic (the broker's metadata mirror calls TopicsChanged meanwhile)
// and PartitionExists — are made with no coordinator lock held: a Host
// that calls back into the coordinator (its own lock and a group's)
// inside each of them does not stall the requests that make them.
func TestHostCallsThatMayCallBackHoldNoCoordinatorLock(t *testing.T) {
	h := newTestHost(t, 1)
	c := startCoordinator(t, h)
	h.reenter = func() {
		c.TopicsChanged()         // Coordinator.mu
		c.Describe("g", 5, false) // Coordinator.mu, then group.mu
		c.List(nil, nil)          // Coordinator.mu, then each group.mu
	}
	within(t, "first commit (creates the internal topic)", func() error {
		return errOf("commit", (<-commitLater(c, "g", nil, 0, 1)).Topics[0].Partitions[0].ErrorCode)
	})
	within(t, "commit to an existing group", func() error {
		return errOf("commit", (<-commitLater(c, "g", nil, 1, 2)).Topics[0].Partitions[0].ErrorCode)
	})
	within(t, "offset delete", func() error {
		return errOf("offset delete", (<-offsetDeleteLater(c, "g", 0)).Topics[0].Partitions[0].ErrorCode)
	})
	h.deleteTopic()
	c.TopicsChanged()
	within(t, "find coordinator after the topic was deleted", func() error {
		_, err := c.PartitionFor("g")
		if err != nil {
			return err
		}
		return nil
	})
	if got := committed(t, c, "g"); len(got) != 0 {
		t.Fatalf("offsets in the new topic: %v, want none", got)
	}
}
