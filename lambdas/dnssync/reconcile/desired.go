package reconcile

import (
	"context"
	"fmt"
	"net"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
)

// ECS and EC2 accept at most 100 ARNs or IDs per describe call.
const describeBatch = 100

// ipsFromECS: the services' tasks (every gateway slot's) that ECS wants running and that run (and
// pass their health check), their container instances, and those
// instances' private IPv4 addresses. unsettled counts the running tasks
// whose health check has no verdict yet (health UNKNOWN).
func (r *Reconciler) ipsFromECS(ctx context.Context) (ips []string, unsettled int, err error) {
	var taskARNs []string
	for _, service := range r.cfg.Services() {
		in := &ecs.ListTasksInput{Cluster: &r.cfg.Cluster, ServiceName: &service, DesiredStatus: ecstypes.DesiredStatusRunning}
		for {
			out, err := r.ecs.ListTasks(ctx, in)
			if err != nil {
				return nil, 0, fmt.Errorf("ECS ListTasks of %s: %w", service, err)
			}
			taskARNs = append(taskARNs, out.TaskArns...)
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	var instanceARNs []string
	seen := map[string]bool{}
	for _, batch := range batches(taskARNs) {
		out, err := r.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: &r.cfg.Cluster, Tasks: batch})
		if err != nil {
			return nil, 0, fmt.Errorf("ECS DescribeTasks: %w", err)
		}
		for _, t := range out.Tasks {
			if aws.ToString(t.LastStatus) != "RUNNING" || aws.ToString(t.DesiredStatus) != "RUNNING" {
				continue
			}
			if t.HealthStatus == ecstypes.HealthStatusUnknown || t.HealthStatus == "" {
				unsettled++
			}
			if r.cfg.RequireHealthy && t.HealthStatus != ecstypes.HealthStatusHealthy {
				continue
			}
			ci := aws.ToString(t.ContainerInstanceArn)
			if ci != "" && !seen[ci] {
				seen[ci] = true
				instanceARNs = append(instanceARNs, ci)
			}
		}
	}
	var instanceIDs []string
	for _, batch := range batches(instanceARNs) {
		out, err := r.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: &r.cfg.Cluster, ContainerInstances: batch})
		if err != nil {
			return nil, 0, fmt.Errorf("ECS DescribeContainerInstances: %w", err)
		}
		for _, ci := range out.ContainerInstances {
			if id := aws.ToString(ci.Ec2InstanceId); id != "" {
				instanceIDs = append(instanceIDs, id)
			}
		}
	}
	for _, batch := range batches(instanceIDs) {
		in := &ec2.DescribeInstancesInput{InstanceIds: batch}
		for {
			out, err := r.ec2.DescribeInstances(ctx, in)
			if err != nil {
				return nil, 0, fmt.Errorf("EC2 DescribeInstances: %w", err)
			}
			for _, res := range out.Reservations {
				for _, inst := range res.Instances {
					if inst.State != nil && inst.State.Name != ec2types.InstanceStateNameRunning {
						continue
					}
					if ip := aws.ToString(inst.PrivateIpAddress); ip != "" {
						ips = append(ips, ip)
					}
				}
			}
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	return normalize(ips), unsettled, nil
}

// ipsFromCloudMap: the healthy instances ECS registered in Cloud Map; in
// bridge mode their AWS_INSTANCE_IPV4 is the host's private address.
func (r *Reconciler) ipsFromCloudMap(ctx context.Context) ([]string, error) {
	out, err := r.cloudMap.DiscoverInstances(ctx, &servicediscovery.DiscoverInstancesInput{
		NamespaceName: &r.cfg.CloudMapNamespace, ServiceName: &r.cfg.CloudMapService,
		HealthStatus: sdtypes.HealthStatusFilterHealthy, MaxResults: aws.Int32(1000),
	})
	if err != nil {
		return nil, fmt.Errorf("discover instances in Cloud Map: %w", err)
	}
	var ips []string
	for _, inst := range out.Instances {
		if ip := inst.Attributes["AWS_INSTANCE_IPV4"]; ip != "" {
			ips = append(ips, ip)
		}
	}
	return normalize(ips), nil
}

// normalize keeps valid IPv4 addresses, sorted and without duplicates.
func normalize(ips []string) []string {
	set := map[string]bool{}
	for _, ip := range ips {
		if p := net.ParseIP(ip); p != nil && p.To4() != nil {
			set[p.To4().String()] = true
		}
	}
	out := make([]string, 0, len(set))
	for ip := range set {
		out = append(out, ip)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := net.ParseIP(out[i]).To4(), net.ParseIP(out[j]).To4()
		for k := range a {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return false
	})
	return out
}

func batches(xs []string) [][]string {
	var out [][]string
	for len(xs) > 0 {
		n := min(len(xs), describeBatch)
		out = append(out, xs[:n])
		xs = xs[n:]
	}
	return out
}
