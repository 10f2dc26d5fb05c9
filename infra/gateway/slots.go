package gateway

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsservicediscovery"
	"github.com/aws/jsii-runtime-go"
)

// slotProps is what one slot's task definition and service are made of.
type slotProps struct {
	taskRole    awsiam.IRole
	image       awsecs.ContainerImage
	logs        awslogs.ILogGroup
	env         map[string]*string
	secrets     map[string]awsecs.Secret
	ports       []int // host = container ports: command, health, HTTP, its data block, SFTP
	commandPort int
	capacity    *string
}

// slotID names slot i's constructs: slot 0 keeps the names of the
// one-task stack ("Task", "Service"), so an existing deployment keeps its
// service and Cloud Map registration when it grows.
func slotID(name string, i int) *string {
	if i == 0 {
		return jsii.String(name)
	}
	return jsii.String(fmt.Sprintf("%s%d", name, i))
}

// addSlot adds slot i: a task definition with its block of data ports, its
// service of one task, and an alarm when that task is missing.
func (g *gateway) addSlot(i int, p slotProps) {
	task := awsecs.NewEc2TaskDefinition(g, slotID("Task", i), &awsecs.Ec2TaskDefinitionProps{
		NetworkMode: awsecs.NetworkMode_BRIDGE, TaskRole: p.taskRole,
	})
	var ports []*awsecs.PortMapping
	for _, port := range p.ports {
		ports = append(ports, &awsecs.PortMapping{ContainerPort: num(port), HostPort: num(port), Protocol: awsecs.Protocol_TCP})
	}
	container := task.AddContainer(jsii.String(ContainerName), &awsecs.ContainerDefinitionOptions{
		Image:                p.image,
		MemoryReservationMiB: jsii.Number(768), MemoryLimitMiB: jsii.Number(1536),
		PortMappings: &ports,
		Logging:      awsecs.LogDrivers_AwsLogs(&awsecs.AwsLogDriverProps{StreamPrefix: jsii.String(fmt.Sprintf("gateway-%d", i)), LogGroup: p.logs}),
		HealthCheck: &awsecs.HealthCheck{
			Command:  jsii.Strings("CMD", "/ftps3", "-healthcheck"),
			Interval: awscdk.Duration_Seconds(jsii.Number(15)), Timeout: awscdk.Duration_Seconds(jsii.Number(5)),
			Retries: jsii.Number(3), StartPeriod: awscdk.Duration_Seconds(jsii.Number(20)),
		},
		StopTimeout: awscdk.Duration_Seconds(jsii.Number(120)),
	})
	// Sorted, so that every synth renders the same task definition.
	for _, name := range sortedKeys(p.env) {
		container.AddEnvironment(jsii.String(name), p.env[name])
	}
	for _, name := range sortedKeys(p.secrets) {
		container.AddSecret(jsii.String(name), p.secrets[name])
	}

	props := &awsecs.Ec2ServiceProps{
		Cluster: g.cluster, TaskDefinition: task, DesiredCount: jsii.Number(1),
		// Static host ports: the slot's new task cannot start beside its old
		// one, so its deployment stops the old task first (draining its
		// transfers); the other slots serve meanwhile.
		MinHealthyPercent: jsii.Number(0), MaxHealthyPercent: jsii.Number(100),
		PlacementConstraints: &[]awsecs.PlacementConstraint{awsecs.PlacementConstraint_DistinctInstances()},
		CapacityProviderStrategies: &[]*awsecs.CapacityProviderStrategy{{
			CapacityProvider: p.capacity, Weight: jsii.Number(1),
		}},
		CircuitBreaker: &awsecs.DeploymentCircuitBreaker{Rollback: jsii.Bool(true)},
	}
	if i == 0 {
		props.CloudMapOptions = &awsecs.CloudMapOptions{
			Name: jsii.String(ContainerName), DnsRecordType: awsservicediscovery.DnsRecordType_SRV,
			Container: container, ContainerPort: num(p.commandPort), DnsTtl: awscdk.Duration_Seconds(jsii.Number(30)),
		}
	}
	service := awsecs.NewEc2Service(g, slotID("Service", i), props)
	if i > 0 {
		// Every slot registers in the one SRV record of slot 0's service.
		service.AssociateCloudMapService(&awsecs.AssociateCloudMapServiceOptions{
			Service: g.services[0].CloudMapService(), Container: container, ContainerPort: num(p.commandPort),
		})
		// One slot at a time: CloudFormation updates this service once the
		// previous one is stable again (its new task running and healthy).
		service.Node().AddDependency(g.services[i-1])
	}
	g.services = append(g.services, service)
	g.containers = append(g.containers, container)

	// The slot's task is gone but its host lives (a crash loop, a task that
	// cannot be placed): fewer running tasks than desired for 3 minutes,
	// from Container Insights (a normal replacement takes about one).
	insight := func(name string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("ECS/ContainerInsights"), MetricName: jsii.String(name),
			DimensionsMap: &map[string]*string{"ClusterName": g.cluster.ClusterName(), "ServiceName": service.ServiceName()},
			Statistic:     jsii.String("Average"), Period: awscdk.Duration_Minutes(jsii.Number(1)),
		})
	}
	awscloudwatch.NewAlarm(g, slotID("TasksBelowDesired", i), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String(fmt.Sprintf("ftps3: gateway slot %d has no running task", i)),
		Metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String("desired - running"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{"desired": insight("DesiredTaskCount"), "running": insight("RunningTaskCount")},
			Label:        jsii.String("missing tasks"), Period: awscdk.Duration_Minutes(jsii.Number(1)),
		}),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		Threshold:          jsii.Number(1), EvaluationPeriods: jsii.Number(3),
		TreatMissingData: awscloudwatch.TreatMissingData_BREACHING,
	})
}
