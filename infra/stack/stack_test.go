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

// A synthesized stack and what the tests read from it.
type synthesized struct {
	settings  settings.Settings
	tmpl      assertions.Template
	annotated assertions.Annotations
	raw       string
}

var (
	// public: cdk.json's kind of deployment, a new VPC and partners only.
	public synthesized
	// campus: an existing VPC (its lookup answered in the context), campus
	// networks with their DNS name, a key prefix, a certificate secret and a
	// port plan other than the defaults.
	campus    synthesized
	lambdaOut string
)

// campusContext is testdata/campus.context.json: the settings and the
// answer to the VPC lookup the CDK CLI would have cached.
func campusContext() map[string]any {
	b, err := os.ReadFile(filepath.Join(repoRoot, "infra", "testdata", "campus.context.json"))
	if err != nil {
		panic(err)
	}
	var ctx map[string]any
	if err := json.Unmarshal(b, &ctx); err != nil {
		panic(err)
	}
	return ctx
}

var campusEnv = &awscdk.Environment{Account: jsii.String("111122223333"), Region: jsii.String("eu-west-2")}

// synth builds the stack from ctx the way infra/main.go does.
func synth(ctx map[string]any, env *awscdk.Environment) (synthesized, error) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(os.TempDir(), fmt.Sprintf("ftps3-cdk-test-%d", os.Getpid()))), Context: &ctx})
	s, err := settings.Parse(func(k string) any { return app.Node().TryGetContext(&k) })
	if err != nil {
		return synthesized{}, err
	}
	st, err := New(app, Props{Settings: s, RepoRoot: repoRoot, LambdaDir: lambdaOut, Env: env})
	if err != nil {
		return synthesized{}, err
	}
	Nag(app)
	app.Synth(nil)
	out := synthesized{settings: s, tmpl: assertions.Template_FromStack(st, nil), annotated: assertions.Annotations_FromStack(st)}
	b, _ := json.Marshal(out.tmpl.ToJSON())
	out.raw = string(b)
	return out, nil
}

// TestMain builds the Lambda asset the stack packages and synthesizes the
// two deployments once; the tests share them.
func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	// The Lambda is built for this test alone: other test packages may be
	// building into dist/ at the same time.
	out, err := os.MkdirTemp("", "ftps3-lambda-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if b, err := exec.Command(filepath.Join(repoRoot, "scripts", "build-lambda.sh"), out).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build-lambda.sh: %v\n%s", err, b)
		os.Exit(1)
	}
	lambdaOut = filepath.Join(out, "dnssync")
	if public, err = synth(map[string]any{"publicCidrs": []any{"0.0.0.0/0"}}, nil); err == nil {
		campus, err = synth(campusContext(), campusEnv)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	jsii.Close()
	os.RemoveAll(out)
	os.Exit(code)
}

func (s synthesized) has(t *testing.T, typ string, props map[string]any) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", typ, r)
		}
	}()
	s.tmpl.HasResourceProperties(jsii.String(typ), assertions.Match_ObjectLike(&props))
}

func (s synthesized) count(t *testing.T, typ string, n int) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", typ, r)
		}
	}()
	s.tmpl.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n)))
}

// resources returns the template's resources of one type by logical ID.
func (s synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range *s.tmpl.FindResources(jsii.String(typ), nil) {
		out[id] = *r
	}
	return out
}

// one returns the only resource of a type.
func (s synthesized) one(t *testing.T, typ string) (string, map[string]any) {
	t.Helper()
	rs := s.resources(typ)
	if len(rs) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(rs), typ)
	}
	for id, r := range rs {
		return id, r
	}
	return "", nil
}

func props(r map[string]any) map[string]any { p, _ := r["Properties"].(map[string]any); return p }

func seq(a, b int) []int {
	var out []int
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}

func TestTaskInBridgeModeWithEveryPortMapped(t *testing.T) {
	var mappings []any
	for _, p := range append([]int{9021, 9081}, seq(9022, 9033)...) {
		mappings = append(mappings, map[string]any{"ContainerPort": p, "HostPort": p, "Protocol": "tcp"})
	}
	campus.has(t, "AWS::ECS::TaskDefinition", map[string]any{
		"NetworkMode": "bridge",
		"ContainerDefinitions": []any{assertions.Match_ObjectLike(&map[string]any{
			"Name":         "gateway",
			"PortMappings": assertions.Match_ArrayWith(&mappings),
			"HealthCheck":  assertions.Match_ObjectLike(&map[string]any{"Command": []any{"CMD", "/ftps3", "-healthcheck"}}),
			"StopTimeout":  120,
		})},
	})
	campus.has(t, "AWS::ECS::Service", map[string]any{
		"DesiredCount": 1, "PlacementConstraints": []any{map[string]any{"Type": "distinctInstance"}},
		"DeploymentConfiguration": assertions.Match_ObjectLike(&map[string]any{"MinimumHealthyPercent": 0, "MaximumPercent": 100}),
		"ServiceRegistries":       assertions.Match_AnyValue(),
	})
	campus.has(t, "AWS::ServiceDiscovery::Service", map[string]any{
		"DnsConfig": assertions.Match_ObjectLike(&map[string]any{"DnsRecords": []any{map[string]any{"Type": "SRV", "TTL": 30}}}),
	})
	campus.has(t, "AWS::EC2::LaunchTemplate", map[string]any{"LaunchTemplateData": assertions.Match_ObjectLike(&map[string]any{
		"BlockDeviceMappings": []any{assertions.Match_ObjectLike(&map[string]any{"Ebs": assertions.Match_ObjectLike(&map[string]any{"Encrypted": true})})},
	})})
}

func TestPassiveAddressesAndSecretsInTheContainer(t *testing.T) {
	// Environment and secrets are rendered sorted by name. Campus networks
	// get the host's own address; everyone else the load balancer's name,
	// which resolves to the addresses of its healthy zones.
	nlbID, _ := campus.one(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
	envs := []any{
		map[string]any{"Name": "FTP_DATA_CIDR_TO_DOMAINS__0__CIDR", "Value": "192.168.0.0/16"},
		map[string]any{"Name": "FTP_DATA_CIDR_TO_DOMAINS__0__DOMAIN", "Value": "@ec2-local-ipv4"},
		map[string]any{"Name": "FTP_DATA_CIDR_TO_DOMAINS__1__DOMAIN", "Value": "@ec2-local-ipv4"},
		map[string]any{"Name": "FTP_DATA_CIDR_TO_DOMAINS__2__CIDR", "Value": "0.0.0.0/0"},
		map[string]any{"Name": "FTP_DATA_CIDR_TO_DOMAINS__2__DOMAIN", "Value": map[string]any{"Fn::GetAtt": []any{nlbID, "DNSName"}}},
	}
	secrets := []any{
		assertions.Match_ObjectLike(&map[string]any{"Name": "FTP_TLS_KEY_PEM"}),
	}
	campus.has(t, "AWS::ECS::TaskDefinition", map[string]any{"ContainerDefinitions": []any{assertions.Match_ObjectLike(&map[string]any{
		"Environment": assertions.Match_ArrayWith(&envs), "Secrets": assertions.Match_ArrayWith(&secrets),
	})}})
	for _, s := range []synthesized{public, campus} {
		if strings.Contains(strings.ToLower(s.raw), "begin private key") {
			t.Error("a private key is in the template")
		}
	}
}

func TestLoadBalancer(t *testing.T) {
	campus.has(t, "AWS::ElasticLoadBalancingV2::LoadBalancer", map[string]any{
		"Type": "network", "Scheme": "internet-facing",
		"SecurityGroups": assertions.Match_AnyValue(),
		"SubnetMappings": []any{
			assertions.Match_ObjectLike(&map[string]any{"SubnetId": "subnet-0a0000000000000a1", "AllocationId": assertions.Match_AnyValue()}),
			assertions.Match_ObjectLike(&map[string]any{"SubnetId": "subnet-0b0000000000000b1", "AllocationId": assertions.Match_AnyValue()}),
		},
		"LoadBalancerAttributes": assertions.Match_ArrayWith(&[]any{
			map[string]any{"Key": "load_balancing.cross_zone.enabled", "Value": "true"},
			map[string]any{"Key": "zonal_shift.config.enabled", "Value": "true"},
		}),
	})
	// The command port, SFTP, and two tasks' 12 data ports each.
	campus.count(t, "AWS::ElasticLoadBalancingV2::Listener", 26)
	campus.count(t, "AWS::ElasticLoadBalancingV2::TargetGroup", 26)
	for _, port := range append([]int{9021}, seq(9022, 9045)...) {
		campus.has(t, "AWS::ElasticLoadBalancingV2::Listener", map[string]any{"Port": port, "Protocol": "TCP",
			"ListenerAttributes": []any{map[string]any{"Key": "tcp.idle_timeout.seconds", "Value": "3600"}}})
		campus.has(t, "AWS::ElasticLoadBalancingV2::TargetGroup", map[string]any{
			"Port": port, "Protocol": "TCP", "TargetType": "instance",
			"TargetGroupAttributes": assertions.Match_ArrayWith(&[]any{map[string]any{"Key": "preserve_client_ip.enabled", "Value": "true"}}),
		})
	}
	_, asg := campus.one(t, "AWS::AutoScaling::AutoScalingGroup")
	if arns, _ := props(asg)["TargetGroupARNs"].([]any); len(arns) != 26 {
		t.Errorf("the Auto Scaling group registers %d target groups, want 26", len(arns))
	}
	// Public clients only from the allowed CIDR; the hosts only from the NLB and campus.
	campus.has(t, "AWS::EC2::SecurityGroup", map[string]any{"SecurityGroupIngress": assertions.Match_ArrayWith(&[]any{
		assertions.Match_ObjectLike(&map[string]any{"CidrIp": "198.51.100.0/24", "FromPort": 9021, "ToPort": 9021}),
	})})
	campus.has(t, "AWS::EC2::SecurityGroup", map[string]any{"SecurityGroupIngress": assertions.Match_ArrayWith(&[]any{
		assertions.Match_ObjectLike(&map[string]any{"CidrIp": "172.16.0.0/12", "FromPort": 9022, "ToPort": 9045}),
	})})
	campus.has(t, "AWS::EC2::SecurityGroupIngress", map[string]any{"FromPort": 9081, "ToPort": 9081, "SourceSecurityGroupId": assertions.Match_AnyValue()})
	for id, r := range campus.resources("AWS::EC2::SecurityGroup") {
		b, _ := json.Marshal(props(r)["SecurityGroupIngress"])
		if strings.Contains(string(b), "0.0.0.0/0") {
			t.Errorf("%s admits the whole internet: %s", id, b)
		}
	}
}

func TestDNSSyncFunction(t *testing.T) {
	campus.has(t, "AWS::Lambda::Function", map[string]any{
		"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap",
		"Timeout": 180, "DeadLetterConfig": assertions.Match_AnyValue(),
		"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
			"RECORD_NAME": "ftps.campus.example.org", "HOSTED_ZONE_ID": "Z0123456789", "TTL": "60", "SOURCE": "ecs"})},
	})
	// Reserved concurrency fails on accounts whose limit is 10 (new ones).
	campus.has(t, "AWS::Lambda::Function", map[string]any{"ReservedConcurrentExecutions": assertions.Match_Absent()})
	campus.has(t, "AWS::Events::Rule", map[string]any{"EventPattern": assertions.Match_ObjectLike(&map[string]any{
		"source": []any{"aws.ecs"}, "detail-type": []any{"ECS Task State Change"},
		"detail": assertions.Match_ObjectLike(&map[string]any{"clusterArn": assertions.Match_AnyValue(), "group": assertions.Match_AnyValue()}),
	})})
	campus.has(t, "AWS::Events::Rule", map[string]any{"ScheduleExpression": "rate(5 minutes)"})
	campus.has(t, "AWS::IAM::Policy", map[string]any{"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
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
	if strings.Contains(campus.raw, `"route53:*"`) || strings.Contains(campus.raw, `"ecs:*"`) {
		t.Error("a service-wide wildcard action is granted")
	}
	campus.has(t, "AWS::CloudWatch::Alarm", map[string]any{"MetricName": "HealthyHosts", "Namespace": "ftps3/dnssync", "ComparisonOperator": "LessThanThreshold"})
	campus.has(t, "AWS::CloudWatch::Alarm", map[string]any{"MetricName": "Errors"})
}

func TestBucketProtections(t *testing.T) {
	campus.has(t, "AWS::S3::Bucket", map[string]any{
		"PublicAccessBlockConfiguration": map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true},
		"BucketEncryption":               assertions.Match_AnyValue(),
		"LoggingConfiguration":           assertions.Match_AnyValue(),
		"LifecycleConfiguration": map[string]any{"Rules": []any{assertions.Match_ObjectLike(&map[string]any{
			"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 3}, "Status": "Enabled"}),
			// Pending uploads (UPLOAD_RESUME_WINDOW, 24 h) outlive neither rule.
			assertions.Match_ObjectLike(&map[string]any{"Prefix": ".ftps3/pending/", "ExpirationInDays": 3, "Status": "Enabled"})}},
	})
	campus.has(t, "AWS::S3::BucketPolicy", map[string]any{"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
		"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
			"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}})}),
	})})
	// Access logs arrive under a bucket policy, not the legacy ACL.
	campus.has(t, "AWS::S3::Bucket", map[string]any{"AccessControl": assertions.Match_Absent()})
	// The task role reaches only the prefix of this bucket.
	if !strings.Contains(campus.raw, `/incoming/*`) {
		t.Error("the task role is not limited to the key prefix")
	}
	// Each upload's checksums are object tags: the statement that reaches
	// the prefix must allow writing and reading them.
	tagging := false
	for _, r := range campus.resources("AWS::IAM::Policy") {
		doc, _ := props(r)["PolicyDocument"].(map[string]any)
		stmts, _ := doc["Statement"].([]any)
		for _, st := range stmts {
			b, _ := json.Marshal(st)
			if strings.Contains(string(b), `/incoming/*`) && strings.Contains(string(b), `"s3:PutObjectTagging"`) &&
				(strings.Contains(string(b), `"s3:GetObject*"`) || strings.Contains(string(b), `"s3:GetObjectTagging"`)) {
				tagging = true
			}
		}
	}
	if !strings.Contains(campus.raw, `/.ftps3/pending/*`) {
		t.Error("the task role cannot keep cut uploads' state under .ftps3/pending/")
	}
	if !tagging {
		t.Error("the task role may not write and read object tags under the prefix (checksums)")
	}
}

func TestNoUnsuppressedNagFindings(t *testing.T) {
	for name, s := range map[string]synthesized{"public": public, "campus": campus} {
		errs := s.annotated.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, e := range *errs {
			t.Errorf("%s: cdk-nag: %v %v", name, *e.Id, e.Entry.Data)
		}
		warns := s.annotated.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, w := range *warns {
			t.Errorf("%s: cdk-nag warning: %v %v", name, *w.Id, w.Entry.Data)
		}
	}
}
