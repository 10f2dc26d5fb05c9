package reconcile

import (
	"slices"
	"testing"
)

// Active-active: every gateway slot is an ECS service of its own, and the
// record holds the hosts of every slot's healthy task. A slot whose task
// fails leaves the record; the others stay.
func TestEverySlotsHostIsInTheRecord(t *testing.T) {
	w := newWorld(t, Config{Cluster: "ftps3", Service: "gateway-0, gateway-1", HostedZoneID: "Z1", RecordName: record, TTL: 60,
		Source: SourceECS, RequireHealthy: true})
	slot := func(id, service, health, instance string) {
		w.task(id, "RUNNING", "RUNNING", health, instance)
		w.ecs.tasks[len(w.ecs.tasks)-1].service = service
	}
	slot("a", "gateway-0", "HEALTHY", w.host(1, "10.0.1.10"))
	slot("b", "gateway-1", "HEALTHY", w.host(2, "10.0.2.20"))
	w.ecs.tasks = append(w.ecs.tasks, fakeTask{"arn:aws:ecs:eu-west-2:111122223333:task/ftps3/other", "other", "RUNNING", "RUNNING", "HEALTHY", w.host(3, "10.0.3.30")})
	w.run(t, taskEvent("b", "RUNNING", "RUNNING"))
	if got := w.recordIPs(); !slices.Equal(got, []string{"10.0.1.10", "10.0.2.20"}) {
		t.Fatalf("record %v, want both slots' hosts (and not another service's)", got)
	}
	w.ecs.tasks[1].health = "UNHEALTHY"
	w.run(t, taskEvent("b", "RUNNING", "RUNNING"))
	if got := w.recordIPs(); !slices.Equal(got, []string{"10.0.1.10"}) {
		t.Fatalf("record %v after slot 1's task failed its health check, want slot 0's host alone", got)
	}
}

func TestServiceListFromEnv(t *testing.T) {
	c, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"CLUSTER": "c", "SERVICE": "s0,s1, s2", "HOSTED_ZONE_ID": "Z1", "RECORD_NAME": "ftps.campus.example.org"}[k]
	})
	if err != nil || !slices.Equal(c.Services(), []string{"s0", "s1", "s2"}) {
		t.Fatalf("services %q, %v", c.Services(), err)
	}
	if _, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"CLUSTER": "c", "SERVICE": " , ", "HOSTED_ZONE_ID": "Z1", "RECORD_NAME": "ftps.campus.example.org"}[k]
	}); err == nil {
		t.Error("SERVICE of commas only is accepted")
	}
}
