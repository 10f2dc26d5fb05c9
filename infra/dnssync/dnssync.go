// Package dnssync deploys the Lambda that keeps the Direct Connect DNS name
// pointing at the hosts running the gateway (lambdas/dnssync): triggered by
// the service's ECS task state changes and by a schedule, allowed to read
// ECS, EC2 and Cloud Map and to change one record name in one zone.
package dnssync

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configure the function.
type Props struct {
	Cluster awsecs.ICluster
	// Services are the gateway's slots' services: their tasks' hosts make
	// the record.
	Services          []awsecs.Ec2Service
	CloudMapNamespace string // the namespace name, for the cross-check
	CloudMapService   string
	HostedZoneID      string
	RecordName        string
	TTL               int
	// CodeDirectory holds the built bootstrap (scripts/build-lambda.sh).
	CodeDirectory string
	LogRetention  awslogs.RetentionDays
	Schedule      awscdk.Duration
}

// Timeout is the function's timeout: after a task starts, a run keeps
// reconciling until the task's health check has an answer (see
// lambdas/dnssync), within this bound.
const Timeout = 3 * time.Minute

// DNSSync is the deployed function.
type DNSSync interface {
	constructs.Construct
	Function() awslambda.IFunction
}

type dnsSync struct {
	constructs.Construct
	fn awslambda.Function
}

func (d *dnsSync) Function() awslambda.IFunction { return d.fn }

// New creates the function, its triggers, permissions and alarms.
func New(scope constructs.Construct, id string, p Props) DNSSync {
	d := &dnsSync{}
	constructs.NewConstruct_Override(d, scope, &id)
	c := d
	stack := awscdk.Stack_Of(c)
	if p.TTL == 0 {
		p.TTL = 60
	}
	if p.Schedule == nil {
		p.Schedule = awscdk.Duration_Minutes(jsii.Number(5))
	}
	dlq := awssqs.NewQueue(c, jsii.String("DeadLetters"), &awssqs.QueueProps{
		EnforceSSL: jsii.Bool(true), Encryption: awssqs.QueueEncryption_SQS_MANAGED,
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	logs := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{Retention: p.LogRetention})
	record := strings.TrimSuffix(strings.ToLower(p.RecordName), ".")
	var names, groups []*string
	for _, svc := range p.Services {
		names = append(names, svc.ServiceName())
		groups = append(groups, jsii.String("service:"+*svc.ServiceName()))
	}
	fn := awslambda.NewFunction(c, jsii.String("Function"), &awslambda.FunctionProps{
		Description:  jsii.String("ftps3: keep " + record + " pointing at the gateway's hosts"),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(&p.CodeDirectory, nil),
		MemorySize:   jsii.Number(128), Timeout: awscdk.Duration_Seconds(jsii.Number(Timeout.Seconds())),
		// No reserved concurrency: it fails on accounts whose concurrency
		// limit is 10, and it is not needed: every run rebuilds the record
		// from the current state, and a repeated UPSERT is harmless.
		DeadLetterQueue: dlq, RetryAttempts: jsii.Number(2),
		LogGroup: logs,
		Environment: &map[string]*string{
			"CLUSTER": p.Cluster.ClusterName(), "SERVICE": awscdk.Fn_Join(jsii.String(","), &names),
			"HOSTED_ZONE_ID": &p.HostedZoneID, "RECORD_NAME": &record, "TTL": jsii.String(fmt.Sprint(p.TTL)),
			"SOURCE":             jsii.String("ecs"),
			"CLOUDMAP_NAMESPACE": &p.CloudMapNamespace, "CLOUDMAP_SERVICE": &p.CloudMapService,
		},
	})

	// Least privilege. ListTasks is scoped by cluster; the describe calls
	// by ARN; Route 53 changes by zone, record name, type and action.
	clusterArn := p.Cluster.ClusterArn()
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ecs:ListTasks"), Resources: jsii.Strings("*"),
		Conditions: &map[string]any{"ArnEquals": map[string]any{"ecs:cluster": clusterArn}},
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ecs:DescribeTasks", "ecs:DescribeContainerInstances"),
		Resources: &[]*string{
			stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("ecs"), Resource: jsii.String("task"), ResourceName: jsii.String(*p.Cluster.ClusterName() + "/*")}),
			stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("ecs"), Resource: jsii.String("container-instance"), ResourceName: jsii.String(*p.Cluster.ClusterName() + "/*")}),
		},
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		// Neither call supports resource-level permissions.
		Actions: jsii.Strings("ec2:DescribeInstances", "servicediscovery:DiscoverInstances"), Resources: jsii.Strings("*"),
	}))
	zoneArn := "arn:" + *stack.Partition() + ":route53:::hostedzone/" + p.HostedZoneID
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("route53:ListResourceRecordSets"), Resources: &[]*string{&zoneArn},
	}))
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("route53:ChangeResourceRecordSets"), Resources: &[]*string{&zoneArn},
		Conditions: &map[string]any{"ForAllValues:StringEquals": map[string]any{
			"route53:ChangeResourceRecordSetsNormalizedRecordNames": []string{record},
			"route53:ChangeResourceRecordSetsRecordTypes":           []string{"A"},
			"route53:ChangeResourceRecordSetsActions":               []string{"UPSERT"},
		}},
	}))

	// Triggers: this service's task state changes, and a schedule as the
	// backstop for lost events.
	target := awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: dlq, RetryAttempts: jsii.Number(4), MaxEventAge: awscdk.Duration_Hours(jsii.Number(1)),
	})
	awsevents.NewRule(c, jsii.String("TaskStateChange"), &awsevents.RuleProps{
		Description: jsii.String("ftps3 gateway tasks changed state"),
		EventPattern: &awsevents.EventPattern{
			Source: jsii.Strings("aws.ecs"), DetailType: jsii.Strings("ECS Task State Change"),
			Detail: &map[string]any{
				"clusterArn": []*string{clusterArn},
				"group":      groups,
			},
		},
		Targets: &[]awsevents.IRuleTarget{target},
	})
	awsevents.NewRule(c, jsii.String("Schedule"), &awsevents.RuleProps{
		Description: jsii.String("ftps3 DNS sync backstop"),
		Schedule:    awsevents.Schedule_Rate(p.Schedule),
		Targets:     &[]awsevents.IRuleTarget{target},
	})

	// Alarms: the function fails, events pile up undelivered, or the record
	// points at hosts with no healthy gateway (the function keeps the last
	// record and reports HealthyHosts = 0).
	awscloudwatch.NewAlarm(c, jsii.String("Errors"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("ftps3 DNS sync failed"),
		Metric:           fn.MetricErrors(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}),
		Threshold:        jsii.Number(1), EvaluationPeriods: jsii.Number(1),
		TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	awscloudwatch.NewAlarm(c, jsii.String("Undelivered"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("ftps3 DNS sync events went to the dead-letter queue"),
		Metric:           dlq.MetricApproximateNumberOfMessagesVisible(nil),
		Threshold:        jsii.Number(1), EvaluationPeriods: jsii.Number(1),
		TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	awscloudwatch.NewAlarm(c, jsii.String("NoHealthyHost"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("No healthy ftps3 gateway behind " + record),
		Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("ftps3/dnssync"), MetricName: jsii.String("HealthyHosts"),
			DimensionsMap: &map[string]*string{"Record": &record}, Statistic: jsii.String("Minimum"),
			Period: awscdk.Duration_Minutes(jsii.Number(5)),
		}),
		ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		Threshold:          jsii.Number(1), EvaluationPeriods: jsii.Number(2),
		TreatMissingData: awscloudwatch.TreatMissingData_BREACHING,
	})
	d.fn = fn
	return d
}
