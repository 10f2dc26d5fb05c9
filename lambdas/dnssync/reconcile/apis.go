// Package reconcile keeps a public Route 53 A record equal to the private
// IPv4 addresses of the EC2 hosts where the gateway's ECS tasks run, for
// clients that reach those hosts directly (over Direct Connect).
//
// It is level-triggered: an ECS task event or a schedule only says "look
// now". Each run rebuilds the desired record from the current state,
// compares it with the record in Route 53 and writes only on a difference,
// so duplicated, reordered, late or lost events cannot leave a wrong record
// for longer than one schedule period.
package reconcile

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
)

// The AWS calls used, as the SDK clients declare them: the real clients
// satisfy these interfaces, and the tests use small in-memory fakes.

// ECS lists and describes the service's tasks and their container instances.
type ECS interface {
	ListTasks(context.Context, *ecs.ListTasksInput, ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(context.Context, *ecs.DescribeTasksInput, ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	DescribeContainerInstances(context.Context, *ecs.DescribeContainerInstancesInput, ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error)
}

// EC2 gives the instances' private addresses.
type EC2 interface {
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

// CloudMap answers DiscoverInstances, the data behind the SRV record.
type CloudMap interface {
	DiscoverInstances(context.Context, *servicediscovery.DiscoverInstancesInput, ...func(*servicediscovery.Options)) (*servicediscovery.DiscoverInstancesOutput, error)
}

// Route53 reads and writes the record.
type Route53 interface {
	ListResourceRecordSets(context.Context, *route53.ListResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error)
	ChangeResourceRecordSets(context.Context, *route53.ChangeResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error)
}
