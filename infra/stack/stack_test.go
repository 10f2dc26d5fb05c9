package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/ftps3/ftps3/infra/settings"
)

const repoRoot = "../.."

var (
	tmpl      assertions.Template
	annotated assertions.Annotations
	raw       string
)

// TestMain builds the Lambda asset the stack packages, synthesizes the full
// stack once (with the campus name, so every construct is in it) and shares
// the template between the tests.
func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	// The Lambda is built for this test alone: other test packages may be
	// building into dist/ at the same time.
	lambdaOut, err := os.MkdirTemp("", "ftps3-lambda-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if out, err := exec.Command(filepath.Join(repoRoot, "scripts", "build-lambda.sh"), lambdaOut).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build-lambda.sh: %v\n%s", err, out)
		os.Exit(1)
	}
	s, err := settings.Parse(func(k string) any {
		return map[string]any{
			"publicCidrs": []any{"198.51.100.0/24"}, "campusCidrs": []any{"10.0.0.0/8", "172.16.0.0/12"},
			"hostedZoneId": "Z0123456789", "hostedZoneName": "example.org", "campusRecordName": "ftps.campus.example.org",
			"keyPrefix": "incoming", "tlsSecretArn": "arn:aws:secretsmanager:eu-west-2:111122223333:secret:ftps3-tls-AbCdEf",
		}[k]
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(os.TempDir() + "/ftps3-cdk-test")})
	st := New(app, Props{Settings: s, RepoRoot: repoRoot, LambdaDir: filepath.Join(lambdaOut, "dnssync")})
	Nag(app)
	app.Synth(nil)
	tmpl = assertions.Template_FromStack(st, nil)
	annotated = assertions.Annotations_FromStack(st)
	b, _ := json.Marshal(tmpl.ToJSON())
	raw = string(b)
	code := m.Run()
	jsii.Close()
	os.RemoveAll(lambdaOut)
	os.Exit(code)
}

func has(t *testing.T, typ string, props map[string]any) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", typ, r)
		}
	}()
	tmpl.HasResourceProperties(jsii.String(typ), assertions.Match_ObjectLike(&props))
}

func count(t *testing.T, typ string, n int) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", typ, r)
		}
	}()
	tmpl.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n)))
}

func TestTaskInBridgeModeWithEveryPortMapped(t *testing.T) {
	var mappings []any
	for _, p := range append([]int{8021, 8081}, seq(8022, 8041)...) {
		mappings = append(mappings, map[string]any{"ContainerPort": p, "HostPort": p, "Protocol": "tcp"})
	}
	has(t, "AWS::ECS::TaskDefinition", map[string]any{
		"NetworkMode": "bridge",
		"ContainerDefinitions": []any{assertions.Match_ObjectLike(&map[string]any{
			"Name":         "gateway",
			"PortMappings": assertions.Match_ArrayWith(&mappings),
			"HealthCheck":  assertions.Match_ObjectLike(&map[string]any{"Command": []any{"CMD", "/ftps3", "-healthcheck"}}),
			"StopTimeout":  120,
		})},
	})
	has(t, "AWS::ECS::Service", map[string]any{
		"DesiredCount": 1, "PlacementConstraints": []any{map[string]any{"Type": "distinctInstance"}},
		"DeploymentConfiguration": assertions.Match_ObjectLike(&map[string]any{"MinimumHealthyPercent": 0, "MaximumPercent": 100}),
		"ServiceRegistries":       assertions.Match_AnyValue(),
	})
	has(t, "AWS::ServiceDiscovery::Service", map[string]any{
		"DnsConfig": assertions.Match_ObjectLike(&map[string]any{"DnsRecords": []any{map[string]any{"Type": "SRV", "TTL": 30}}}),
	})
	has(t, "AWS::EC2::LaunchTemplate", map[string]any{"LaunchTemplateData": assertions.Match_ObjectLike(&map[string]any{
		"MetadataOptions":     map[string]any{"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
		"BlockDeviceMappings": []any{assertions.Match_ObjectLike(&map[string]any{"Ebs": assertions.Match_ObjectLike(&map[string]any{"Encrypted": true})})},
	})})
}

func seq(a, b int) []int {
	var out []int
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}

func TestPassiveAddressesAndSecretsInTheContainer(t *testing.T) {
	// Environment and secrets are rendered sorted by name.
	envs := []any{
		map[string]any{"Name": "FTP_DATA_CIDR_TO_DOMAINS__0__CIDR", "Value": "10.0.0.0/8"},
		map[string]any{"Name": "FTP_DATA_CIDR_TO_DOMAINS__0__DOMAIN", "Value": "@ec2-local-ipv4"},
		map[string]any{"Name": "FTP_DATA_CIDR_TO_DOMAINS__2__CIDR", "Value": "0.0.0.0/0"},
		map[string]any{"Name": "FTP_USERS__0__HOME", "Value": "incoming/"},
	}
	secrets := []any{
		assertions.Match_ObjectLike(&map[string]any{"Name": "FTP_TLS_KEY_PEM"}),
		assertions.Match_ObjectLike(&map[string]any{"Name": "FTP_USERS__0__PASSWORD"}),
	}
	has(t, "AWS::ECS::TaskDefinition", map[string]any{"ContainerDefinitions": []any{assertions.Match_ObjectLike(&map[string]any{
		"Environment": assertions.Match_ArrayWith(&envs), "Secrets": assertions.Match_ArrayWith(&secrets),
	})}})
	has(t, "AWS::SecretsManager::Secret", map[string]any{"GenerateSecretString": assertions.Match_ObjectLike(&map[string]any{"GenerateStringKey": "password"})})
	if strings.Contains(raw, `"SecretString"`) || strings.Contains(strings.ToLower(raw), "begin private key") {
		t.Error("a secret value is in the template")
	}
}

func TestLoadBalancer(t *testing.T) {
	has(t, "AWS::ElasticLoadBalancingV2::LoadBalancer", map[string]any{
		"Type": "network", "Scheme": "internet-facing",
		"SecurityGroups":         assertions.Match_AnyValue(),
		"SubnetMappings":         assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{"AllocationId": assertions.Match_AnyValue()})}),
		"LoadBalancerAttributes": assertions.Match_ArrayWith(&[]any{map[string]any{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}}),
	})
	count(t, "AWS::ElasticLoadBalancingV2::Listener", 21)
	count(t, "AWS::ElasticLoadBalancingV2::TargetGroup", 21)
	for _, port := range append([]int{8021}, seq(8022, 8041)...) {
		has(t, "AWS::ElasticLoadBalancingV2::Listener", map[string]any{"Port": port, "Protocol": "TCP",
			"ListenerAttributes": []any{map[string]any{"Key": "tcp.idle_timeout.seconds", "Value": "3600"}}})
		has(t, "AWS::ElasticLoadBalancingV2::TargetGroup", map[string]any{
			"Port": port, "Protocol": "TCP", "TargetType": "instance", "HealthCheckPort": "8081", "HealthCheckProtocol": "TCP",
			"TargetGroupAttributes": assertions.Match_ArrayWith(&[]any{map[string]any{"Key": "preserve_client_ip.enabled", "Value": "true"}}),
		})
	}
	var tgs map[string]any
	for _, r := range *tmpl.FindResources(jsii.String("AWS::AutoScaling::AutoScalingGroup"), nil) {
		tgs = (*r)["Properties"].(map[string]any)
	}
	if arns, _ := tgs["TargetGroupARNs"].([]any); len(arns) != 21 {
		t.Errorf("the Auto Scaling group registers %d target groups, want 21", len(arns))
	}
	// Public clients only from the allowed CIDR; the hosts only from the NLB and campus.
	has(t, "AWS::EC2::SecurityGroup", map[string]any{"SecurityGroupIngress": assertions.Match_ArrayWith(&[]any{
		assertions.Match_ObjectLike(&map[string]any{"CidrIp": "198.51.100.0/24", "FromPort": 8021, "ToPort": 8021}),
	})})
	has(t, "AWS::EC2::SecurityGroup", map[string]any{"SecurityGroupIngress": assertions.Match_ArrayWith(&[]any{
		assertions.Match_ObjectLike(&map[string]any{"CidrIp": "10.0.0.0/8", "FromPort": 8022, "ToPort": 8041}),
	})})
	has(t, "AWS::EC2::SecurityGroupIngress", map[string]any{"FromPort": 8081, "ToPort": 8081, "SourceSecurityGroupId": assertions.Match_AnyValue()})
	for id, r := range *tmpl.FindResources(jsii.String("AWS::EC2::SecurityGroup"), nil) {
		b, _ := json.Marshal((*r)["Properties"].(map[string]any)["SecurityGroupIngress"])
		if strings.Contains(string(b), "0.0.0.0/0") {
			t.Errorf("%s admits the whole internet: %s", id, b)
		}
	}
}

func TestDNSSyncFunction(t *testing.T) {
	has(t, "AWS::Lambda::Function", map[string]any{
		"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap",
		"ReservedConcurrentExecutions": 1, "DeadLetterConfig": assertions.Match_AnyValue(),
		"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
			"RECORD_NAME": "ftps.campus.example.org", "HOSTED_ZONE_ID": "Z0123456789", "TTL": "60", "SOURCE": "ecs"})},
	})
	has(t, "AWS::Events::Rule", map[string]any{"EventPattern": assertions.Match_ObjectLike(&map[string]any{
		"source": []any{"aws.ecs"}, "detail-type": []any{"ECS Task State Change"},
		"detail": assertions.Match_ObjectLike(&map[string]any{"clusterArn": assertions.Match_AnyValue(), "group": assertions.Match_AnyValue()}),
	})})
	has(t, "AWS::Events::Rule", map[string]any{"ScheduleExpression": "rate(5 minutes)"})
	has(t, "AWS::IAM::Policy", map[string]any{"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
		"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
			"Action": "route53:ChangeResourceRecordSets", "Effect": "Allow",
			"Resource": assertions.Match_AnyValue(),
			"Condition": map[string]any{"ForAllValues:StringEquals": map[string]any{
				"route53:ChangeResourceRecordSetsNormalizedRecordNames": []any{"ftps.campus.example.org"},
				"route53:ChangeResourceRecordSetsRecordTypes":           []any{"A"},
				"route53:ChangeResourceRecordSetsActions":               []any{"UPSERT"},
			}},
		})}),
	})})
	if strings.Contains(raw, `"route53:*"`) || strings.Contains(raw, `"ecs:*"`) {
		t.Error("a service-wide wildcard action is granted")
	}
	has(t, "AWS::CloudWatch::Alarm", map[string]any{"MetricName": "HealthyHosts", "Namespace": "ftps3/dnssync", "ComparisonOperator": "LessThanThreshold"})
	has(t, "AWS::CloudWatch::Alarm", map[string]any{"MetricName": "Errors"})
}

func TestBucketProtections(t *testing.T) {
	has(t, "AWS::S3::Bucket", map[string]any{
		"PublicAccessBlockConfiguration": map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true},
		"BucketEncryption":               assertions.Match_AnyValue(),
		"LoggingConfiguration":           assertions.Match_AnyValue(),
		"LifecycleConfiguration": map[string]any{"Rules": []any{assertions.Match_ObjectLike(&map[string]any{
			"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 1}, "Status": "Enabled"})}},
	})
	has(t, "AWS::S3::BucketPolicy", map[string]any{"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
		"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
			"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}})}),
	})})
	// The task role reaches only the prefix of this bucket.
	if !strings.Contains(raw, `/incoming/*`) {
		t.Error("the task role is not limited to the key prefix")
	}
}

func TestNoUnsuppressedNagFindings(t *testing.T) {
	errs := annotated.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	for _, e := range *errs {
		t.Errorf("cdk-nag: %v %v", *e.Id, e.Entry.Data)
	}
	warns := annotated.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	for _, w := range *warns {
		t.Errorf("cdk-nag warning: %v %v", *w.Id, w.Entry.Data)
	}
}
