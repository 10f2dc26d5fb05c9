package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
)

// Small in-memory fakes of the four AWS APIs, following their documented
// behaviour where the reconciler depends on it: ListTasks pages (100 at a
// time) and filters by service and desired status; the describe calls take
// at most 100 ARNs and report unknown ones as failures; Route 53 lists
// records in its order from a start name and type, and UPSERT replaces the
// whole record set.

type fakeTask struct {
	arn, service, lastStatus, desiredStatus, health, instance string
}

type fakeECS struct {
	tasks     []fakeTask
	instances map[string]string // container instance ARN → EC2 instance ID
	calls     map[string]int
}

func (f *fakeECS) count(op string) {
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
}

func (f *fakeECS) ListTasks(_ context.Context, in *ecs.ListTasksInput, _ ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	f.count("ListTasks")
	var arns []string
	for _, t := range f.tasks {
		if t.service == aws.ToString(in.ServiceName) && (in.DesiredStatus == "" || string(in.DesiredStatus) == t.desiredStatus) {
			arns = append(arns, t.arn)
		}
	}
	start := 0
	if in.NextToken != nil {
		start, _ = strconv.Atoi(*in.NextToken)
	}
	page := 100
	if in.MaxResults != nil {
		page = int(*in.MaxResults)
	}
	end := min(start+page, len(arns))
	out := &ecs.ListTasksOutput{TaskArns: arns[start:end]}
	if end < len(arns) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (f *fakeECS) DescribeTasks(_ context.Context, in *ecs.DescribeTasksInput, _ ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	f.count("DescribeTasks")
	if len(in.Tasks) > 100 {
		return nil, fmt.Errorf("InvalidParameterException: too many tasks (%d)", len(in.Tasks))
	}
	out := &ecs.DescribeTasksOutput{}
	for _, arn := range in.Tasks {
		found := false
		for _, t := range f.tasks {
			if t.arn == arn {
				found = true
				out.Tasks = append(out.Tasks, ecstypes.Task{TaskArn: aws.String(t.arn), LastStatus: aws.String(t.lastStatus),
					DesiredStatus: aws.String(t.desiredStatus), HealthStatus: ecstypes.HealthStatus(t.health),
					ContainerInstanceArn: aws.String(t.instance)})
			}
		}
		if !found {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(arn), Reason: aws.String("MISSING")})
		}
	}
	return out, nil
}

func (f *fakeECS) DescribeContainerInstances(_ context.Context, in *ecs.DescribeContainerInstancesInput, _ ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error) {
	f.count("DescribeContainerInstances")
	if len(in.ContainerInstances) > 100 {
		return nil, fmt.Errorf("InvalidParameterException: too many container instances")
	}
	out := &ecs.DescribeContainerInstancesOutput{}
	for _, arn := range in.ContainerInstances {
		if id, ok := f.instances[arn]; ok {
			out.ContainerInstances = append(out.ContainerInstances, ecstypes.ContainerInstance{ContainerInstanceArn: aws.String(arn), Ec2InstanceId: aws.String(id)})
		} else {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(arn), Reason: aws.String("MISSING")})
		}
	}
	return out, nil
}

type fakeEC2 struct {
	ips     map[string]string // instance ID → private IPv4
	stopped map[string]bool
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	out := &ec2.DescribeInstancesOutput{}
	for _, id := range in.InstanceIds {
		ip, ok := f.ips[id]
		if !ok {
			return nil, fmt.Errorf("InvalidInstanceID.NotFound: %s", id)
		}
		state := ec2types.InstanceStateNameRunning
		if f.stopped[id] {
			state = ec2types.InstanceStateNameStopped
		}
		out.Reservations = append(out.Reservations, ec2types.Reservation{Instances: []ec2types.Instance{{
			InstanceId: aws.String(id), PrivateIpAddress: aws.String(ip), State: &ec2types.InstanceState{Name: state}}}})
	}
	return out, nil
}

type fakeCloudMap struct{ healthy, unhealthy []string }

func (f *fakeCloudMap) DiscoverInstances(_ context.Context, in *servicediscovery.DiscoverInstancesInput, _ ...func(*servicediscovery.Options)) (*servicediscovery.DiscoverInstancesOutput, error) {
	out := &servicediscovery.DiscoverInstancesOutput{}
	add := func(ips []string, status sdtypes.HealthStatus) {
		for i, ip := range ips {
			out.Instances = append(out.Instances, sdtypes.HttpInstanceSummary{InstanceId: aws.String(fmt.Sprint(status, i)),
				HealthStatus: status, Attributes: map[string]string{"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "8021"}})
		}
	}
	add(f.healthy, sdtypes.HealthStatusHealthy)
	if in.HealthStatus != sdtypes.HealthStatusFilterHealthy {
		add(f.unhealthy, sdtypes.HealthStatusUnhealthy)
	}
	return out, nil
}

type fakeRecord struct {
	name, typ string
	ttl       int64
	values    []string
}

type fakeRoute53 struct {
	records []fakeRecord
	writes  int
	fail    []error // returned by the next ChangeResourceRecordSets calls, in order
}

// r53Key orders records as Route 53 does: by name with labels reversed,
// then by type.
func r53Key(name, typ string) string {
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(name), "."), ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return strings.Join(labels, ".") + " " + typ
}

func (f *fakeRoute53) ListResourceRecordSets(_ context.Context, in *route53.ListResourceRecordSetsInput, _ ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error) {
	sort.Slice(f.records, func(i, j int) bool {
		return r53Key(f.records[i].name, f.records[i].typ) < r53Key(f.records[j].name, f.records[j].typ)
	})
	start := r53Key(aws.ToString(in.StartRecordName), string(in.StartRecordType))
	out := &route53.ListResourceRecordSetsOutput{}
	for _, r := range f.records {
		if r53Key(r.name, r.typ) < start || len(out.ResourceRecordSets) >= int(aws.ToInt32(in.MaxItems)) {
			continue
		}
		rs := r53types.ResourceRecordSet{Name: aws.String(r.name), Type: r53types.RRType(r.typ), TTL: aws.Int64(r.ttl)}
		for _, v := range r.values {
			rs.ResourceRecords = append(rs.ResourceRecords, r53types.ResourceRecord{Value: aws.String(v)})
		}
		out.ResourceRecordSets = append(out.ResourceRecordSets, rs)
	}
	return out, nil
}

func (f *fakeRoute53) ChangeResourceRecordSets(_ context.Context, in *route53.ChangeResourceRecordSetsInput, _ ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error) {
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		return nil, err
	}
	for _, ch := range in.ChangeBatch.Changes {
		rs := ch.ResourceRecordSet
		if ch.Action != r53types.ChangeActionUpsert || rs.TTL == nil || len(rs.ResourceRecords) == 0 {
			return nil, &r53types.InvalidChangeBatch{Message: aws.String("invalid change")}
		}
		rec := fakeRecord{name: strings.ToLower(aws.ToString(rs.Name)), typ: string(rs.Type), ttl: *rs.TTL}
		for _, rr := range rs.ResourceRecords {
			rec.values = append(rec.values, aws.ToString(rr.Value))
		}
		replaced := false
		for i, r := range f.records {
			if r.name == rec.name && r.typ == rec.typ {
				f.records[i], replaced = rec, true
			}
		}
		if !replaced {
			f.records = append(f.records, rec)
		}
	}
	f.writes++
	return &route53.ChangeResourceRecordSetsOutput{}, nil
}

func (f *fakeRoute53) record(name string) *fakeRecord {
	for i, r := range f.records {
		if sameName(r.name, name) && r.typ == "A" {
			return &f.records[i]
		}
	}
	return nil
}
