package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
)

const record = "ftps.campus.example.org"

// world is the AWS state one scenario runs against.
type world struct {
	ecs     *fakeECS
	ec2     *fakeEC2
	cm      *fakeCloudMap
	r53     *fakeRoute53
	logs    bytes.Buffer
	metrics bytes.Buffer
	sleeps  []time.Duration
	rec     *Reconciler
}

func newWorld(t *testing.T, cfg Config) *world {
	w := &world{
		ecs: &fakeECS{instances: map[string]string{}},
		ec2: &fakeEC2{ips: map[string]string{}},
		cm:  &fakeCloudMap{},
		r53: &fakeRoute53{records: []fakeRecord{{name: "campus.example.org.", typ: "SOA", ttl: 900, values: []string{"ns"}}, {name: "www.campus.example.org.", typ: "A", ttl: 60, values: []string{"192.0.2.80"}}}},
	}
	if cfg.Cluster == "" {
		cfg = Config{Cluster: "ftps3", Service: "gateway", HostedZoneID: "Z1", RecordName: record, TTL: 60, Source: SourceECS, RequireHealthy: true}
	}
	w.rec = New(cfg, Clients{ECS: w.ecs, EC2: w.ec2, CloudMap: w.cm, Route53: w.r53},
		slog.New(slog.NewJSONHandler(&w.logs, nil)), &w.metrics)
	w.rec.sleep = func(_ context.Context, d time.Duration) error { w.sleeps = append(w.sleeps, d); return nil }
	return w
}

// host puts an EC2 instance with a container instance in the cluster.
func (w *world) host(n int, ip string) string {
	ci := fmt.Sprintf("arn:aws:ecs:eu-west-2:111122223333:container-instance/ftps3/ci-%d", n)
	w.ecs.instances[ci] = fmt.Sprintf("i-%04d", n)
	w.ec2.ips[fmt.Sprintf("i-%04d", n)] = ip
	return ci
}

func (w *world) task(id, last, desired, health, instance string) {
	arn := "arn:aws:ecs:eu-west-2:111122223333:task/ftps3/" + id
	for i, t := range w.ecs.tasks {
		if t.arn == arn {
			w.ecs.tasks[i] = fakeTask{arn, "gateway", last, desired, health, instance}
			return
		}
	}
	w.ecs.tasks = append(w.ecs.tasks, fakeTask{arn, "gateway", last, desired, health, instance})
}

func (w *world) run(t *testing.T, event string) Result {
	t.Helper()
	res, err := w.rec.Run(context.Background(), Trigger(json.RawMessage(event)))
	if err != nil {
		t.Fatalf("run: %v\nlogs: %s", err, w.logs.String())
	}
	return res
}

func (w *world) recordIPs() []string {
	if r := w.r53.record(record); r != nil {
		return r.values
	}
	return nil
}

func taskEvent(id, last, desired string) string {
	return fmt.Sprintf(`{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{"taskArn":"arn:aws:ecs:eu-west-2:111122223333:task/ftps3/%s","lastStatus":%q,"desiredStatus":%q}}`, id, last, desired)
}

const schedule = `{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`

func TestScenarios(t *testing.T) {
	cases := []struct {
		name  string
		steps func(t *testing.T, w *world)
	}{
		{"first run creates the record", func(t *testing.T, w *world) {
			w.task("a", "RUNNING", "RUNNING", "HEALTHY", w.host(1, "10.0.1.10"))
			res := w.run(t, taskEvent("a", "RUNNING", "RUNNING"))
			if res.Action != ActionUpsert || !slices.Equal(w.recordIPs(), []string{"10.0.1.10"}) || w.r53.record(record).ttl != 60 {
				t.Fatalf("result %+v, record %v", res, w.recordIPs())
			}
			if len(w.r53.records) != 3 {
				t.Error("other records were touched")
			}
		}},
		{"a stale RUNNING event for an old task after a newer one", func(t *testing.T, w *world) {
			w.task("old", "STOPPED", "STOPPED", "UNKNOWN", w.host(1, "10.0.1.10"))
			w.task("new", "RUNNING", "RUNNING", "HEALTHY", w.host(2, "10.0.2.20"))
			w.run(t, taskEvent("new", "RUNNING", "RUNNING"))
			res := w.run(t, taskEvent("old", "RUNNING", "RUNNING")) // delivered late
			if res.Action != ActionNone || !slices.Equal(w.recordIPs(), []string{"10.0.2.20"}) {
				t.Fatalf("stale event changed the record: %+v %v", res, w.recordIPs())
			}
		}},
		{"a late STOPPED for the old task", func(t *testing.T, w *world) {
			w.task("old", "RUNNING", "STOPPED", "HEALTHY", w.host(1, "10.0.1.10")) // draining
			w.task("new", "RUNNING", "RUNNING", "HEALTHY", w.host(2, "10.0.2.20"))
			w.run(t, taskEvent("new", "RUNNING", "RUNNING"))
			w.task("old", "STOPPED", "STOPPED", "UNKNOWN", "arn:aws:ecs:eu-west-2:111122223333:container-instance/ftps3/ci-1")
			res := w.run(t, taskEvent("old", "STOPPED", "STOPPED"))
			if res.Action != ActionNone || w.r53.writes != 1 || !slices.Equal(w.recordIPs(), []string{"10.0.2.20"}) {
				t.Fatalf("%+v writes=%d record=%v", res, w.r53.writes, w.recordIPs())
			}
		}},
		{"duplicate events write once", func(t *testing.T, w *world) {
			w.task("a", "RUNNING", "RUNNING", "HEALTHY", w.host(1, "10.0.1.10"))
			for i := 0; i < 3; i++ {
				w.run(t, taskEvent("a", "RUNNING", "RUNNING"))
			}
			if w.r53.writes != 1 {
				t.Fatalf("writes = %d", w.r53.writes)
			}
		}},
		{"two tasks give two addresses, sorted", func(t *testing.T, w *world) {
			w.task("a", "RUNNING", "RUNNING", "HEALTHY", w.host(1, "10.0.10.5"))
			w.task("b", "RUNNING", "RUNNING", "HEALTHY", w.host(2, "10.0.9.7"))
			w.run(t, schedule)
			if !slices.Equal(w.recordIPs(), []string{"10.0.9.7", "10.0.10.5"}) {
				t.Fatalf("record = %v", w.recordIPs())
			}
		}},
		{"an instance replaced gives the new address", func(t *testing.T, w *world) {
			w.task("a", "RUNNING", "RUNNING", "HEALTHY", w.host(1, "10.0.1.10"))
			w.run(t, schedule)
			w.task("a", "STOPPED", "STOPPED", "UNKNOWN", "")
			w.task("b", "RUNNING", "RUNNING", "HEALTHY", w.host(3, "10.0.3.30"))
			res := w.run(t, taskEvent("b", "RUNNING", "RUNNING"))
			if res.Action != ActionUpsert || !slices.Equal(w.recordIPs(), []string{"10.0.3.30"}) {
				t.Fatalf("%+v %v", res, w.recordIPs())
			}
		}},
		{"no healthy task keeps the record and says so", func(t *testing.T, w *world) {
			w.task("a", "RUNNING", "RUNNING", "HEALTHY", w.host(1, "10.0.1.10"))
			w.run(t, schedule)
			w.task("a", "RUNNING", "RUNNING", "UNHEALTHY", "arn:aws:ecs:eu-west-2:111122223333:container-instance/ftps3/ci-1")
			w.task("b", "PENDING", "RUNNING", "UNKNOWN", w.host(2, "10.0.2.20"))
			res := w.run(t, schedule)
			if res.Action != ActionKept || !slices.Equal(w.recordIPs(), []string{"10.0.1.10"}) {
				t.Fatalf("%+v %v", res, w.recordIPs())
			}
			if !strings.Contains(w.metrics.String(), `"HealthyHosts":0`) || !strings.Contains(w.logs.String(), `"level":"WARN"`) {
				t.Errorf("no alarm signal:\n%s\n%s", w.metrics.String(), w.logs.String())
			}
		}},
		{"throttled, then it succeeds", func(t *testing.T, w *world) {
			w.task("a", "RUNNING", "RUNNING", "HEALTHY", w.host(1, "10.0.1.10"))
			w.r53.fail = []error{
				&smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"},
				&r53types.PriorRequestNotComplete{Message: aws.String("the request was submitted before a previous request finished")},
			}
			res := w.run(t, schedule)
			if res.Action != ActionUpsert || !slices.Equal(w.recordIPs(), []string{"10.0.1.10"}) {
				t.Fatalf("%+v", res)
			}
			if !slices.Equal(w.sleeps, []time.Duration{500 * time.Millisecond, time.Second}) {
				t.Errorf("backoff = %v", w.sleeps)
			}
		}},
		{"no write when nothing changed", func(t *testing.T, w *world) {
			w.r53.records = append(w.r53.records, fakeRecord{name: record + ".", typ: "A", ttl: 60, values: []string{"10.0.1.10"}})
			w.task("a", "RUNNING", "RUNNING", "HEALTHY", w.host(1, "10.0.1.10"))
			res := w.run(t, schedule)
			if res.Action != ActionNone || w.r53.writes != 0 {
				t.Fatalf("%+v writes=%d", res, w.r53.writes)
			}
		}},
		{"a TTL change is written", func(t *testing.T, w *world) {
			w.r53.records = append(w.r53.records, fakeRecord{name: record + ".", typ: "A", ttl: 300, values: []string{"10.0.1.10"}})
			w.task("a", "RUNNING", "RUNNING", "HEALTHY", w.host(1, "10.0.1.10"))
			if res := w.run(t, schedule); res.Action != ActionUpsert || w.r53.record(record).ttl != 60 {
				t.Fatalf("%+v", res)
			}
		}},
		{"pages of tasks and batches of describes", func(t *testing.T, w *world) {
			for i := 0; i < 250; i++ {
				w.task(fmt.Sprint("t", i), "RUNNING", "RUNNING", "HEALTHY", w.host(i, fmt.Sprintf("10.1.%d.%d", i/200, i%200+1)))
			}
			w.run(t, schedule)
			if n := len(w.recordIPs()); n != 250 || w.ecs.calls["ListTasks"] != 3 || w.ecs.calls["DescribeTasks"] != 3 {
				t.Fatalf("ips %d, calls %v", n, w.ecs.calls)
			}
		}},
		{"a stopped EC2 instance does not count", func(t *testing.T, w *world) {
			w.task("a", "RUNNING", "RUNNING", "HEALTHY", w.host(1, "10.0.1.10"))
			w.task("b", "RUNNING", "RUNNING", "HEALTHY", w.host(2, "10.0.2.20"))
			w.ec2.stopped = map[string]bool{"i-0002": true}
			w.run(t, schedule)
			if !slices.Equal(w.recordIPs(), []string{"10.0.1.10"}) {
				t.Fatalf("%v", w.recordIPs())
			}
		}},
		{"dry run changes nothing", func(t *testing.T, w *world) {
			w.rec.DryRun = true
			w.task("a", "RUNNING", "RUNNING", "HEALTHY", w.host(1, "10.0.1.10"))
			if res := w.run(t, schedule); res.Action != ActionDryRun || w.r53.writes != 0 {
				t.Fatalf("%+v", res)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.steps(t, newWorld(t, Config{})) })
	}
}

func TestCloudMapSourceAndCrossCheck(t *testing.T) {
	cfg := Config{Cluster: "ftps3", Service: "gateway", HostedZoneID: "Z1", RecordName: record, TTL: 60,
		Source: SourceCloudMap, CloudMapNamespace: "ftps3.internal", CloudMapService: "gateway"}
	w := newWorld(t, cfg)
	w.cm.healthy, w.cm.unhealthy = []string{"10.0.5.5"}, []string{"10.0.6.6"}
	w.run(t, schedule)
	if !slices.Equal(w.recordIPs(), []string{"10.0.5.5"}) {
		t.Fatalf("cloudmap source: %v", w.recordIPs())
	}

	cfg.Source = SourceECS
	w = newWorld(t, cfg)
	w.task("a", "RUNNING", "RUNNING", "HEALTHY", w.host(1, "10.0.1.10"))
	w.cm.healthy = []string{"10.0.9.9"}
	res := w.run(t, schedule)
	if !slices.Equal(res.Mismatch, []string{"10.0.9.9"}) || !strings.Contains(w.logs.String(), "disagree") || !slices.Equal(w.recordIPs(), []string{"10.0.1.10"}) {
		t.Fatalf("cross-check: %+v\n%s", res, w.logs.String())
	}
}

func TestNonRetryableErrorsFailTheRun(t *testing.T) {
	w := newWorld(t, Config{})
	w.task("a", "RUNNING", "RUNNING", "HEALTHY", w.host(1, "10.0.1.10"))
	w.r53.fail = []error{&r53types.InvalidChangeBatch{Message: aws.String("bad")}}
	_, err := w.rec.Run(context.Background(), "test")
	var icb *r53types.InvalidChangeBatch
	if !errors.As(err, &icb) || len(w.sleeps) != 0 {
		t.Fatalf("err = %v, sleeps %v", err, w.sleeps)
	}
	w.r53.fail = make([]error, 10)
	for i := range w.r53.fail {
		w.r53.fail[i] = &smithy.GenericAPIError{Code: "Throttling"}
	}
	if _, err := w.rec.Run(context.Background(), "test"); err == nil || len(w.sleeps) != 5 {
		t.Fatalf("endless throttling: err %v after %d sleeps", err, len(w.sleeps))
	}
}

func TestEventsFromTestdata(t *testing.T) {
	for file, want := range map[string]string{
		"testdata/ecs-task-state-change.json": "ecs task arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad STOPPED (desired STOPPED)",
		"testdata/scheduled-event.json":       "schedule",
	} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := Trigger(raw); got != want {
			t.Errorf("%s: trigger %q, want %q", file, got, want)
		}
	}
	if Trigger(nil) != "manual" || Trigger([]byte("not json")) != "manual" {
		t.Error("unreadable events must still trigger a run")
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{"CLUSTER": "c", "SERVICE": "s", "HOSTED_ZONE_ID": "Z", "RECORD_NAME": record}
	c, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || c.TTL != 60 || c.Source != SourceECS || !c.RequireHealthy {
		t.Fatalf("%+v %v", c, err)
	}
	for k, v := range map[string]string{"TTL": "0", "SOURCE": "dns", "REQUIRE_HEALTHY": "maybe", "RECORD_NAME": "localhost", "HOSTED_ZONE_ID": "", "CLUSTER": "", "CLOUDMAP_NAMESPACE": "ns"} {
		bad := map[string]string{}
		for kk, vv := range env {
			bad[kk] = vv
		}
		bad[k] = v
		want := k
		if k == "CLOUDMAP_NAMESPACE" {
			want = "CLOUDMAP_SERVICE"
		}
		if _, err := ConfigFromEnv(func(k string) string { return bad[k] }); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%q: err = %v", k, v, err)
		}
	}
}
