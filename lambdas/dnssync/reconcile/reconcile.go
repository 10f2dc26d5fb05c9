package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

// Actions a run can take.
const (
	ActionNone   = "none"    // the record already matches
	ActionUpsert = "upsert"  // the record was written
	ActionKept   = "kept"    // no healthy task: the last record is kept
	ActionDryRun = "dry-run" // a write was needed but not made
)

// Result is what one run decided.
type Result struct {
	Trigger  string   `json:"trigger"`
	Source   string   `json:"source"`
	Desired  []string `json:"desired"`
	Current  []string `json:"current"`
	Action   string   `json:"action"`
	Mismatch []string `json:"cross_check_mismatch,omitempty"`
	// Unsettled counts running tasks whose health is still UNKNOWN.
	Unsettled int `json:"unsettled,omitempty"`
	// Runs is how many reconciliations Handle made for the event.
	Runs int `json:"runs,omitempty"`
}

// SettlePolicy bounds how long Handle keeps reconciling after a task
// started, waiting for its health check's verdict.
type SettlePolicy struct {
	Interval time.Duration // between runs
	Max      time.Duration // at most this long after the event
	Margin   time.Duration // left before the invocation's deadline
}

// Reconciler runs reconciliations with the AWS clients it is given.
type Reconciler struct {
	cfg      Config
	ecs      ECS
	ec2      EC2
	cloudMap CloudMap
	r53      Route53
	log      *slog.Logger
	metrics  io.Writer
	retry    RetryPolicy
	settle   SettlePolicy
	sleep    func(context.Context, time.Duration) error
	now      func() time.Time
	DryRun   bool
}

// Clients are the AWS APIs a Reconciler uses (CloudMap may be nil when not
// configured).
type Clients struct {
	ECS      ECS
	EC2      EC2
	CloudMap CloudMap
	Route53  Route53
}

// New returns a Reconciler. Decisions are logged to log; CloudWatch
// embedded metrics (one JSON line per run) go to metrics.
func New(cfg Config, c Clients, log *slog.Logger, metrics io.Writer) *Reconciler {
	return &Reconciler{cfg: cfg, ecs: c.ECS, ec2: c.EC2, cloudMap: c.CloudMap, r53: c.Route53, log: log, metrics: metrics,
		retry:  RetryPolicy{Attempts: 6, First: 500 * time.Millisecond, Max: 8 * time.Second},
		settle: SettlePolicy{Interval: 10 * time.Second, Max: 150 * time.Second, Margin: 10 * time.Second},
		sleep:  sleepCtx, now: time.Now}
}

// Handle reconciles for one event. ECS sends a task's RUNNING event while
// its health is still UNKNOWN, and no event when the health check passes;
// so after a RUNNING event Handle reconciles again every Interval until no
// running task of the service awaits its health verdict, within Max and
// the invocation's deadline (less Margin). Any other event, or a
// configuration that does not require health, gets one run. The schedule
// remains the backstop.
func (r *Reconciler) Handle(ctx context.Context, event json.RawMessage) (Result, error) {
	trigger := Trigger(event)
	res, err := r.Run(ctx, trigger)
	res.Runs = 1
	if err != nil || !r.cfg.RequireHealthy || !taskStarted(event) {
		return res, err
	}
	deadline := r.now().Add(r.settle.Max)
	if d, ok := ctx.Deadline(); ok && d.Add(-r.settle.Margin).Before(deadline) {
		deadline = d.Add(-r.settle.Margin)
	}
	for runs := 1; res.Unsettled > 0 && r.now().Add(r.settle.Interval).Before(deadline); {
		if err := r.sleep(ctx, r.settle.Interval); err != nil {
			return res, nil // the invocation ends; the schedule follows up
		}
		runs++
		if res, err = r.Run(ctx, trigger); err != nil {
			res.Runs = runs
			return res, err
		}
		res.Runs = runs
	}
	if res.Unsettled > 0 {
		r.log.Warn("task health still unknown; the schedule will follow up", "record", r.cfg.RecordName, "unsettled", res.Unsettled, "runs", res.Runs)
	}
	return res, nil
}

// Run performs one reconciliation. trigger only labels the logs: the
// decision depends on the current state alone.
func (r *Reconciler) Run(ctx context.Context, trigger string) (Result, error) {
	res := Result{Trigger: trigger, Source: r.cfg.Source}
	var err error
	if r.cfg.Source == SourceCloudMap {
		res.Desired, err = r.ipsFromCloudMap(ctx)
		if err == nil && r.ecs != nil {
			// Cloud Map's health follows ECS's: settle on the same tasks.
			_, res.Unsettled, err = r.ipsFromECS(ctx)
		}
	} else {
		res.Desired, res.Unsettled, err = r.ipsFromECS(ctx)
	}
	if err != nil {
		return res, fmt.Errorf("desired state: %w", err)
	}
	if r.cfg.Source == SourceECS && r.cloudMap != nil && r.cfg.CloudMapService != "" {
		if other, err := r.ipsFromCloudMap(ctx); err != nil {
			r.log.Warn("cross-check with Cloud Map failed", "err", err.Error())
		} else if !slices.Equal(other, res.Desired) {
			res.Mismatch = other
			r.log.Warn("ECS and Cloud Map disagree (Cloud Map registration may lag)", "ecs", res.Desired, "cloudmap", other)
		}
	}
	current, ttl, err := r.currentRecord(ctx)
	if err != nil {
		return res, fmt.Errorf("current record: %w", err)
	}
	res.Current = current
	switch {
	case len(res.Desired) == 0:
		// Deleting the record would make resolvers cache NXDOMAIN; the last
		// hosts are the best guess until a task is healthy again.
		res.Action = ActionKept
	case slices.Equal(res.Desired, current) && ttl == r.cfg.TTL:
		res.Action = ActionNone
	case r.DryRun:
		res.Action = ActionDryRun
	default:
		if err := r.upsert(ctx, res.Desired); err != nil {
			return res, err
		}
		res.Action = ActionUpsert
	}
	level := slog.LevelInfo
	if res.Action == ActionKept {
		level = slog.LevelWarn
	}
	r.log.Log(ctx, level, "reconciled", "record", r.cfg.RecordName, "trigger", trigger, "source", res.Source,
		"desired", res.Desired, "current", res.Current, "action", res.Action)
	r.emitMetrics(len(res.Desired), res.Action == ActionUpsert)
	return res, nil
}

// emitMetrics writes a CloudWatch Embedded Metric Format line: the stack's
// alarm watches HealthyHosts (0 means the record points at hosts that no
// longer run a healthy gateway).
func (r *Reconciler) emitMetrics(healthy int, changed bool) {
	if r.metrics == nil {
		return
	}
	changedN := 0
	if changed {
		changedN = 1
	}
	line := map[string]any{
		"_aws": map[string]any{
			"Timestamp": time.Now().UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "ftps3/dnssync",
				"Dimensions": [][]string{{"Record"}},
				"Metrics":    []any{map[string]string{"Name": "HealthyHosts", "Unit": "Count"}, map[string]string{"Name": "RecordChanged", "Unit": "Count"}},
			}},
		},
		"Record": r.cfg.RecordName, "HealthyHosts": healthy, "RecordChanged": changedN,
	}
	b, _ := json.Marshal(line)
	fmt.Fprintln(r.metrics, string(b))
}
