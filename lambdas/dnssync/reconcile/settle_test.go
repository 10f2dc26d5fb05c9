package reconcile

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// ECS sends a task's RUNNING event while its health is UNKNOWN and no event
// when it turns HEALTHY: after a RUNNING event the handler keeps looking
// until the health has a verdict, so the campus name follows a replacement
// within about one health check, not one schedule period.
func TestHandlerSettlesAfterATaskStarts(t *testing.T) {
	type change struct {
		afterSleeps int    // applied once the handler has slept this often
		health      string // the new task's health from then on
	}
	cases := []struct {
		name     string
		event    string
		health   string // the new task's health at the event
		changes  []change
		deadline time.Duration // the invocation's deadline (0: none)
		runs     int
		record   []string
	}{
		{"RUNNING+UNKNOWN, then HEALTHY: the record follows at once",
			taskEvent("new", "RUNNING", "RUNNING"), "UNKNOWN", []change{{1, "HEALTHY"}}, 0, 2, []string{"10.0.2.20"}},
		{"healthy after three checks",
			taskEvent("new", "RUNNING", "RUNNING"), "UNKNOWN", []change{{3, "HEALTHY"}}, 0, 4, []string{"10.0.2.20"}},
		{"RUNNING+UNKNOWN, then UNHEALTHY: settled, the old record is kept",
			taskEvent("new", "RUNNING", "RUNNING"), "UNKNOWN", []change{{1, "UNHEALTHY"}}, 0, 2, []string{"10.0.1.10"}},
		{"already HEALTHY: one run",
			taskEvent("new", "RUNNING", "RUNNING"), "HEALTHY", nil, 0, 1, []string{"10.0.2.20"}},
		{"never settles: bounded by Max (150s, every 10s)",
			taskEvent("new", "RUNNING", "RUNNING"), "UNKNOWN", nil, 0, 15, []string{"10.0.1.10"}},
		{"never settles: bounded by the invocation's deadline less the margin",
			taskEvent("new", "RUNNING", "RUNNING"), "UNKNOWN", nil, 60 * time.Second, 5, []string{"10.0.1.10"}},
		{"a schedule run does not wait",
			schedule, "UNKNOWN", []change{{1, "HEALTHY"}}, 0, 1, []string{"10.0.1.10"}},
		{"a STOPPED event does not wait",
			taskEvent("old", "STOPPED", "STOPPED"), "UNKNOWN", []change{{1, "HEALTHY"}}, 0, 1, []string{"10.0.1.10"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, Config{})
			// The old host's record; its task is gone, the new one starting.
			w.r53.records = append(w.r53.records, fakeRecord{name: record + ".", typ: "A", ttl: 60, values: []string{"10.0.1.10"}})
			w.host(1, "10.0.1.10")
			newHost := w.host(2, "10.0.2.20")
			w.task("new", "RUNNING", "RUNNING", c.health, newHost)

			clock := time.Now()
			w.rec.now = func() time.Time { return clock }
			w.rec.sleep = func(_ context.Context, d time.Duration) error {
				w.sleeps = append(w.sleeps, d)
				clock = clock.Add(d)
				for _, ch := range c.changes {
					if len(w.sleeps) == ch.afterSleeps {
						w.task("new", "RUNNING", "RUNNING", ch.health, newHost)
					}
				}
				return nil
			}
			ctx := context.Background()
			if c.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, clock.Add(c.deadline))
				defer cancel()
			}
			res, err := w.rec.Handle(ctx, json.RawMessage(c.event))
			if err != nil {
				t.Fatal(err)
			}
			if res.Runs != c.runs || !slices.Equal(w.recordIPs(), c.record) {
				t.Fatalf("runs %d (want %d), record %v (want %v), result %+v", res.Runs, c.runs, w.recordIPs(), c.record, res)
			}
			for _, d := range w.sleeps {
				if d != 10*time.Second {
					t.Errorf("slept %v between runs, want 10s", d)
				}
			}
			if waited := time.Duration(len(w.sleeps)) * 10 * time.Second; waited > 150*time.Second {
				t.Errorf("waited %v, more than the 150s bound", waited)
			}
		})
	}
}

// With REQUIRE_HEALTHY=false health does not matter: nothing to wait for.
func TestHandlerDoesNotWaitWhenHealthIsNotRequired(t *testing.T) {
	w := newWorld(t, Config{Cluster: "ftps3", Service: "gateway", HostedZoneID: "Z1", RecordName: record, TTL: 60, Source: SourceECS})
	w.task("new", "RUNNING", "RUNNING", "UNKNOWN", w.host(2, "10.0.2.20"))
	res, err := w.rec.Handle(context.Background(), json.RawMessage(taskEvent("new", "RUNNING", "RUNNING")))
	if err != nil || res.Runs != 1 || len(w.sleeps) != 0 || !slices.Equal(w.recordIPs(), []string{"10.0.2.20"}) {
		t.Fatalf("%+v %v sleeps %v", res, err, w.sleeps)
	}
}
