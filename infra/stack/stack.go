// Package stack composes the ftps3 deployment: network, bucket, load
// balancer, gateway service, DNS sync Lambda, outputs, and the cdk-nag
// AwsSolutions checks with a written reason for every rule suppressed.
package stack

import (
	"fmt"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ftps3/ftps3/infra/bucket"
	"github.com/ftps3/ftps3/infra/dnssync"
	"github.com/ftps3/ftps3/infra/gateway"
	"github.com/ftps3/ftps3/infra/loadbalancer"
	"github.com/ftps3/ftps3/infra/network"
	"github.com/ftps3/ftps3/infra/settings"
)

// Props locate the built assets.
type Props struct {
	Settings settings.Settings
	// RepoRoot holds docker/Dockerfile, dist/linux-ARCH/ftps3 and
	// dist/dnssync/bootstrap (scripts/build-assets.sh builds them).
	RepoRoot string
	// LambdaDir holds the DNS sync bootstrap (default RepoRoot/dist/dnssync).
	LambdaDir string
	Env       *awscdk.Environment
}

// New builds the stack. It fails when the settings cannot work with what
// the synth found (a campus CIDR overlapping the looked-up VPC).
func New(scope constructs.Construct, p Props) (awscdk.Stack, error) {
	s := p.Settings
	st := awscdk.NewStack(scope, &s.StackName, &awscdk.StackProps{
		Env:         p.Env,
		Description: jsii.String("ftps3: FTPS gateway to S3 (ECS on EC2, NLB, Direct Connect DNS sync)"),
	})
	// Server access logs are delivered under a bucket policy, not the
	// legacy log-delivery ACL.
	st.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)
	retention := awslogs.RetentionDays(fmt.Sprint(s.LogRetentionDays))
	if s.LogRetentionDays == 90 {
		retention = awslogs.RetentionDays_THREE_MONTHS
	}

	netw, err := network.New(st, "Network", network.Props{VpcID: s.VpcID, CampusCidrs: s.CampusCidrs})
	if err != nil {
		return nil, err
	}
	vpc := netw.Vpc()
	files := bucket.New(st, "Bucket", bucket.Props{ExistingName: s.BucketName, KmsKeyArn: s.KmsKeyArn, Versioned: s.Versioned})

	// Every task's block of data ports, one after the other.
	var dataPorts []int
	for i := 0; i < s.GatewayTasks*s.DataPortsCount; i++ {
		dataPorts = append(dataPorts, s.DataPortsFirst+i)
	}
	var forwards []loadbalancer.Forward
	sftpPort := 0
	if s.SFTPPort != 0 {
		sftpPort = s.SFTPContainerPort
		forwards = append(forwards, loadbalancer.Forward{Name: "SFTP", ListenerPort: s.SFTPPort, TargetPort: s.SFTPContainerPort})
	}
	lb := loadbalancer.New(st, "LoadBalancer", loadbalancer.Props{
		Vpc: vpc, PublicCidrs: s.PublicCidrs, Ports: []int{s.CommandPort}, DataPorts: dataPorts,
		HealthcheckPort: s.HealthcheckPort, OwnerCheckPort: s.HealthHTTPPort, IdleTimeoutSecs: s.IdleTimeoutSecs,
		Forwards: forwards,
	})
	gw := gateway.New(st, "Gateway", gateway.Props{
		Vpc: vpc, Arm64: s.Architecture == "arm64", InstanceType: s.InstanceType,
		Tasks: s.GatewayTasks, HealthHTTPPort: s.HealthHTTPPort,
		CommandPort: s.CommandPort, DataPortsFirst: s.DataPortsFirst, DataPortsCount: s.DataPortsCount, HealthcheckPort: s.HealthcheckPort,
		SFTPPort: sftpPort, SFTPHostKeySecretArn: s.SFTPHostKeySecretArn,
		LoadBalancerSecurityGroup: lb.SecurityGroup(), CampusCidrs: s.CampusCidrs, PublicPassiveAddress: lb.DNSName(),
		Bucket: files.Bucket(), KeyPrefix: s.KeyPrefix, UsersSecretArn: s.UsersSecretArn, UsersSecretKeyArn: s.UsersSecretKeyArn, TLSSecretArn: s.TLSSecretArn,
		LogRetention: retention, ImageDirectory: p.RepoRoot,
	})
	lb.Register(gw.AutoScalingGroup())

	out := func(id, value, description string) {
		awscdk.NewCfnOutput(st, &id, &awscdk.CfnOutputProps{Value: &value, Description: &description})
	}
	out("LoadBalancerDnsName", *lb.DNSName(), "Public FTPS endpoint (partners): ftps://THIS:"+fmt.Sprint(s.CommandPort))
	if s.SFTPPort != 0 {
		out("SftpAddress", "sftp -P "+fmt.Sprint(s.SFTPPort)+" USER@"+*lb.DNSName(), "Public SFTP endpoint (partners): the command to connect")
	}
	addrs := lb.Addresses()
	out("LoadBalancerAddresses", *awscdk.Fn_Join(jsii.String(","), &addrs), "The load balancer's static public IPv4 addresses, one per zone (for partners' firewalls)")
	out("BucketName", *files.Bucket().BucketName(), "Where uploaded files are stored")
	out("UsersSecret", *gw.UsersSecret().SecretArn(), "The user list (Secrets Manager, JSON): edit it to add or remove users; the gateway reloads it within a minute")

	if s.CampusRecord != "" {
		dnssync.New(st, "DnsSync", dnssync.Props{
			Cluster: gw.Cluster(), Services: gw.Services(),
			CloudMapNamespace: *gw.Namespace().NamespaceName(), CloudMapService: gateway.ContainerName,
			HostedZoneID: s.HostedZoneID, RecordName: s.CampusRecord,
			CodeDirectory: lambdaDir(p), LogRetention: retention,
		})
		out("CampusDnsName", s.CampusRecord, "Direct Connect name: the private address of the host running the gateway")
	}
	suppress(st, s)
	return st, nil
}

func lambdaDir(p Props) string {
	if p.LambdaDir != "" {
		return p.LambdaDir
	}
	return filepath.Join(p.RepoRoot, "dist", "dnssync")
}

// suppress records, rule by rule, why a finding is accepted.
func suppress(st awscdk.Stack, s settings.Settings) {
	reasons := []struct{ id, reason string }{
		{"AwsSolutions-IAM4", "AWS managed policies are the documented ones for these roles: AmazonEC2ContainerServiceforEC2Role (ECS agent on the host) and AWSLambdaBasicExecutionRole (Lambda logs)."},
		{"AwsSolutions-IAM5", "Wildcards are limited to object keys under the gateway's prefix in its one bucket (and the multipart actions on them), task and container-instance ARNs in this cluster, the CDK-generated ECS host policies, and ec2:DescribeInstances / servicediscovery:DiscoverInstances, which support no resource-level permissions."},
		{"AwsSolutions-ECS2", "The environment holds ports, the bucket name and the PASV plan only; users and certificates come from Secrets Manager."},
		{"AwsSolutions-AS3", "Scaling notifications are not needed: the per-slot task-count alarms and the healthy-host alarm report a host that is gone."},
		{"AwsSolutions-EC29", "Hosts are replaced by their Auto Scaling group on failure and after their maximum lifetime; termination protection would block that."},
		{"AwsSolutions-ELB2", "Network Load Balancers write access logs only for TLS listeners; these are TCP listeners (TLS ends in the gateway, which logs every session and transfer)."},
		{"AwsSolutions-SMG4", "FTP passwords are shared with partners out of band; rotating them automatically would lock partners out. Rotate by editing the secret."},
		{"AwsSolutions-SQS3", "This queue is the dead-letter queue."},
		{"AwsSolutions-L1", "provided.al2023 is the current OS-only runtime."},
	}
	for _, r := range publicSuppressions(s) {
		reasons = append(reasons, r)
	}
	var list []*cdknag.NagPackSuppression
	for _, r := range reasons {
		list = append(list, &cdknag.NagPackSuppression{Id: jsii.String(r.id), Reason: jsii.String(r.reason)})
	}
	cdknag.NagSuppressions_AddStackSuppressions(st, &list, jsii.Bool(true))
}

func publicSuppressions(s settings.Settings) []struct{ id, reason string } {
	for _, c := range s.PublicCidrs {
		if c == "0.0.0.0/0" {
			return []struct{ id, reason string }{{"AwsSolutions-EC23",
				"publicCidrs is 0.0.0.0/0 by the deployer's choice: an FTPS endpoint for partners anywhere on the internet; only the FTP ports are open and TLS is mandatory."}}
		}
	}
	return nil
}

// Nag applies the AwsSolutions checks to scope (the app).
func Nag(scope constructs.Construct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}
