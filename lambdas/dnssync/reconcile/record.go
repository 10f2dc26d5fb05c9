package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
)

// currentRecord reads the A record's addresses (nil if there is none).
func (r *Reconciler) currentRecord(ctx context.Context) ([]string, int64, error) {
	out, err := r.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: &r.cfg.HostedZoneID, StartRecordName: aws.String(fqdn(r.cfg.RecordName)),
		StartRecordType: r53types.RRTypeA, MaxItems: aws.Int32(1),
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list the record in Route 53: %w", err)
	}
	for _, rs := range out.ResourceRecordSets {
		if sameName(aws.ToString(rs.Name), r.cfg.RecordName) && rs.Type == r53types.RRTypeA {
			var ips []string
			for _, rr := range rs.ResourceRecords {
				ips = append(ips, aws.ToString(rr.Value))
			}
			return normalize(ips), aws.ToInt64(rs.TTL), nil
		}
	}
	return nil, 0, nil
}

// upsert writes the record, retrying Route 53's throttling and
// PriorRequestNotComplete (a change to this zone still in progress).
func (r *Reconciler) upsert(ctx context.Context, ips []string) error {
	rrs := make([]r53types.ResourceRecord, len(ips))
	for i, ip := range ips {
		rrs[i] = r53types.ResourceRecord{Value: aws.String(ip)}
	}
	in := &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: &r.cfg.HostedZoneID,
		ChangeBatch: &r53types.ChangeBatch{
			Comment: aws.String("ftps3 dnssync: hosts running the gateway"),
			Changes: []r53types.Change{{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &r53types.ResourceRecordSet{
				Name: aws.String(fqdn(r.cfg.RecordName)), Type: r53types.RRTypeA, TTL: aws.Int64(r.cfg.TTL), ResourceRecords: rrs,
			}}},
		},
	}
	wait := r.retry.First
	for attempt := 1; ; attempt++ {
		_, err := r.r53.ChangeResourceRecordSets(ctx, in)
		if err == nil {
			return nil
		}
		if !retryable(err) || attempt >= r.retry.Attempts {
			return fmt.Errorf("change the record in Route 53 (attempt %d): %w", attempt, err)
		}
		r.log.Warn("route 53 busy, retrying", "err", err.Error(), "attempt", attempt, "retry_in", wait.String())
		if err := r.sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(wait*2, r.retry.Max)
	}
}

func retryable(err error) bool {
	var prnc *r53types.PriorRequestNotComplete
	var throttled *r53types.ThrottlingException
	if errors.As(err, &prnc) || errors.As(err, &throttled) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "Throttling", "ThrottlingException", "PriorRequestNotComplete", "RequestLimitExceeded":
			return true
		}
	}
	return false
}

// RetryPolicy bounds the Route 53 write retries.
type RetryPolicy struct {
	Attempts   int
	First, Max time.Duration
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func fqdn(name string) string { return strings.TrimSuffix(name, ".") + "." }

// sameName compares DNS names as Route 53 returns them: lower case, with a
// trailing dot, "*" escaped as \052.
func sameName(a, b string) bool {
	norm := func(s string) string {
		return strings.ToLower(strings.ReplaceAll(fqdn(s), `\052`, "*"))
	}
	return norm(a) == norm(b)
}
