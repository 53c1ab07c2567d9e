package raftmeta

import (
	"context"
	"testing"
	"time"
)

// TestRestartAfterControlledShutdownIsNotShutDownAgain: a broker that
// stopped after a controlled shutdown and registered again (a new epoch,
// heartbeats without WantShutdown) stays eligible: the controller does not
// apply the earlier incarnation's request to the new one (which would take
// it out of every ISR and leadership for good: a rolling restart under
// SIGTERM then never gets its ISRs whole again).
func TestRestartAfterControlledShutdownIsNotShutDownAgain(t *testing.T) {
	c := startCluster(t, 3)
	ctrl, ok := c.nodes[0].LeaderID()
	if !ok {
		t.Fatal("no controller")
	}
	i := int(ctrl) % 3 // a node other than the controller: the controller's memory must outlive the restart
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.nodes[i].ControlledShutdown(ctx); err != nil {
		t.Fatalf("controlled shutdown of broker %d: %v", i+1, err)
	}
	if b, _ := c.nodes[i].Image().Broker(int32(i + 1)); !b.ShuttingDown {
		t.Fatalf("broker %d not shutting down after its controlled shutdown: %+v", i+1, b)
	}
	old, _ := c.nodes[i].Image().Broker(int32(i + 1))
	c.stop(i)
	c.start(i)
	c.waitRegistered(i)
	// Several heartbeat intervals and controller ticks of the new
	// incarnation.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		b, _ := c.nodes[(i+1)%3].Image().Broker(int32(i + 1))
		if b.Epoch != old.Epoch && (b.ShuttingDown || b.Fenced) {
			t.Fatalf("broker %d registered again (epoch %d, was %d) but is shut down or fenced: %+v", i+1, b.Epoch, old.Epoch, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b, _ := c.nodes[(i+1)%3].Image().Broker(int32(i + 1)); b.Epoch == old.Epoch {
		t.Fatalf("broker %d's new registration never reached node %d", i+1, (i+1)%3+1)
	}
}

// TestControlledShutdownOfTheControllersBroker: the controller's own
// broker asking for a controlled shutdown (SIGTERM) is shut down like any
// other, promptly, instead of waiting for a controller that never decides
// about itself.
func TestControlledShutdownOfTheControllersBroker(t *testing.T) {
	c := startCluster(t, 3)
	ctrl, ok := c.nodes[0].LeaderID()
	if !ok {
		t.Fatal("no controller")
	}
	i := int(ctrl) - 1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.nodes[i].ControlledShutdown(ctx); err != nil {
		t.Fatalf("controlled shutdown of the controller's broker %d: %v", ctrl, err)
	}
	if b, _ := c.nodes[i].Image().Broker(ctrl); !b.ShuttingDown || b.Fenced {
		t.Fatalf("controller's broker %d after its controlled shutdown: %+v, want shutting down, not fenced", ctrl, b)
	}
}
