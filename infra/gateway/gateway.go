// Package gateway runs the ftps3 gateway on ECS on EC2: one task per host in
// bridge network mode, with every FTP port published on the same host port,
// registered in Cloud Map as an SRV record.
//
// One task, on purpose: a passive data connection must reach the task that
// holds the client's control connection. Through a load balancer with more
// than one target it could land on another one. The service is therefore a
// single task on a single host, replaced (stop, then start) on deployment
// or failure; clients reconnect, and nothing half-uploaded is left behind.
//
// Hosts: ECS-optimized Amazon Linux 2023, its AMI resolved when an instance
// launches, replaced after at most MaxHostLifetime (a new host is launched
// before the old one is terminated, and ECS managed instance draining moves
// the task first), so hosts pick up patched AMIs without a deployment.
// Containers cannot reach instance metadata (and so not the instance role's
// credentials); the task learns its host's address from the ECS container
// metadata file instead.
package gateway

import (
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsservicediscovery"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ContainerName is the gateway container's name (and the SRV record's).
const ContainerName = "gateway"

// Props configure the gateway.
type Props struct {
	Vpc          awsec2.IVpc
	Arm64        bool
	InstanceType string

	CommandPort, DataPortsFirst, DataPortsCount, HealthcheckPort int
	// SFTPPort is the container's (and host's) SFTP port; 0: no SFTP.
	SFTPPort int
	// SFTPHostKeySecretArn: a secret holding the SFTP host key as PEM;
	// without it the gateway creates a secret of random text the key is
	// derived from (SFTP_HOST_KEY_SEED), so every task has the same key.
	SFTPHostKeySecretArn string

	// Clients: the load balancer's security group (public clients) and the
	// campus CIDRs (Direct Connect) may reach the FTP ports.
	LoadBalancerSecurityGroup awsec2.ISecurityGroup
	CampusCidrs               []string
	// PublicPassiveAddress is sent in PASV replies to everyone but campus
	// clients (who get the host's private address): the NLB's address.
	PublicPassiveAddress *string

	Bucket    awss3.IBucket
	KeyPrefix string

	UsersSecretArn string // optional: FTP_USERS_JSON
	TLSSecretArn   string // optional: cert and key

	LogRetention awslogs.RetentionDays
	// ImageDirectory holds docker/Dockerfile and dist/ (the repository root).
	ImageDirectory string
}

// MaxHostLifetime bounds how long a host runs before it is replaced by one
// on the current ECS-optimized AMI.
const MaxHostLifetime = 14 * 24 * time.Hour

// Gateway is what other parts of the stack need.
type Gateway interface {
	constructs.Construct
	Cluster() awsecs.ICluster
	Service() awsecs.Ec2Service
	AutoScalingGroup() awsautoscaling.AutoScalingGroup
	InstanceSecurityGroup() awsec2.ISecurityGroup
	UsersSecret() awssecretsmanager.ISecret
	Namespace() awsservicediscovery.INamespace
	// Container is the gateway container, for the task definition's
	// environment (the contract with app/config).
	Container() awsecs.ContainerDefinition
}

type gateway struct {
	constructs.Construct
	cluster   awsecs.Cluster
	service   awsecs.Ec2Service
	asg       awsautoscaling.AutoScalingGroup
	sg        awsec2.SecurityGroup
	users     awssecretsmanager.ISecret
	container awsecs.ContainerDefinition
}

func (g *gateway) Cluster() awsecs.ICluster                          { return g.cluster }
func (g *gateway) Service() awsecs.Ec2Service                        { return g.service }
func (g *gateway) AutoScalingGroup() awsautoscaling.AutoScalingGroup { return g.asg }
func (g *gateway) InstanceSecurityGroup() awsec2.ISecurityGroup      { return g.sg }
func (g *gateway) UsersSecret() awssecretsmanager.ISecret            { return g.users }
func (g *gateway) Container() awsecs.ContainerDefinition             { return g.container }
func (g *gateway) Namespace() awsservicediscovery.INamespace {
	return g.cluster.DefaultCloudMapNamespace()
}

func num(n int) *float64 { return jsii.Number(float64(n)) }

// New builds the cluster, its host and the service.
func New(scope constructs.Construct, id string, p Props) Gateway {
	g := &gateway{}
	constructs.NewConstruct_Override(g, scope, &id)
	c := g
	lastData := p.DataPortsFirst + p.DataPortsCount - 1

	// Who may reach the host.
	g.sg = awsec2.NewSecurityGroup(c, jsii.String("Instances"), &awsec2.SecurityGroupProps{
		Vpc: p.Vpc, AllowAllOutbound: jsii.Bool(true),
		Description: jsii.String("ftps3 gateway hosts: FTP ports from the load balancer and campus networks"),
	})
	ftpPorts := []awsec2.Port{awsec2.Port_Tcp(num(p.CommandPort)), awsec2.Port_TcpRange(num(p.DataPortsFirst), num(lastData))}
	if p.SFTPPort != 0 {
		ftpPorts = append(ftpPorts, awsec2.Port_Tcp(num(p.SFTPPort)))
	}
	for _, port := range append(ftpPorts, awsec2.Port_Tcp(num(p.HealthcheckPort))) {
		g.sg.AddIngressRule(p.LoadBalancerSecurityGroup, port, jsii.String("ftps3 load balancer"), nil)
	}
	for _, cidr := range p.CampusCidrs {
		for _, port := range ftpPorts {
			g.sg.AddIngressRule(awsec2.Peer_Ipv4(jsii.String(cidr)), port, jsii.String("campus (Direct Connect) "+cidr), nil)
		}
	}

	// The cluster and its one host.
	g.cluster = awsecs.NewCluster(c, jsii.String("Cluster"), &awsecs.ClusterProps{
		Vpc: p.Vpc, ContainerInsightsV2: awsecs.ContainerInsights_ENABLED,
	})
	g.cluster.AddDefaultCloudMapNamespace(&awsecs.CloudMapNamespaceOptions{
		Name: jsii.String("ftps3.internal"), Type: awsservicediscovery.NamespaceType_DNS_PRIVATE, Vpc: p.Vpc,
	})
	role := awsiam.NewRole(c, jsii.String("InstanceRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
	})
	lt := awsec2.NewLaunchTemplate(c, jsii.String("Host"), &awsec2.LaunchTemplateProps{
		InstanceType: awsec2.NewInstanceType(&p.InstanceType),
		// Resolved at each launch: a replacement host runs the current AMI.
		MachineImage: awsec2.MachineImage_ResolveSsmParameterAtLaunch(jsii.String(AmiParameter(p.Arm64)), nil),
		UserData:     hostUserData(),
		Role:         role, SecurityGroup: g.sg,
		// IMDSv2 only, and a hop limit of 1: a bridge-mode container is one
		// hop further and gets no metadata token (the iptables rule in the
		// user data blocks it too).
		RequireImdsv2: jsii.Bool(true), HttpTokens: awsec2.LaunchTemplateHttpTokens_REQUIRED,
		HttpPutResponseHopLimit: jsii.Number(1), DetailedMonitoring: jsii.Bool(true),
		BlockDevices: &[]*awsec2.BlockDevice{{
			DeviceName: jsii.String("/dev/xvda"),
			Volume: awsec2.BlockDeviceVolume_Ebs(jsii.Number(30), &awsec2.EbsDeviceOptions{
				Encrypted: jsii.Bool(true), VolumeType: awsec2.EbsDeviceVolumeType_GP3,
			}),
		}},
	})
	awscdk.Validations_Of(lt).Acknowledge(&awscdk.Acknowledgment{Id: jsii.String("CloudFormation-Validate::E1152"),
		Reason: jsii.String("ImageId resolve:ssm:... is resolved by EC2 at each launch (a documented launch template feature), not an AMI id")})
	g.asg = awsautoscaling.NewAutoScalingGroup(c, jsii.String("Hosts"), &awsautoscaling.AutoScalingGroupProps{
		Vpc: p.Vpc, LaunchTemplate: lt,
		VpcSubnets: &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS},
		// One host; room for a second while a host is replaced (launch
		// before terminate).
		MinCapacity: jsii.Number(1), MaxCapacity: jsii.Number(2),
		MaxInstanceLifetime:  awscdk.Duration_Days(jsii.Number(MaxHostLifetime.Hours() / 24)),
		MinHealthyPercentage: jsii.Number(100), MaxHealthyPercentage: jsii.Number(200),
		HealthChecks: awsautoscaling.HealthChecks_Ec2(&awsautoscaling.Ec2HealthChecksOptions{GracePeriod: awscdk.Duration_Minutes(jsii.Number(5))}),
	})
	// ECS managed instance draining is the only termination hook: before a
	// host is terminated (replacement, scale-in, lifetime), ECS stops its
	// task and starts it elsewhere. Setting it explicitly also keeps CDK from
	// adding its own drain Lambda and lifecycle hook.
	cp := awsecs.NewAsgCapacityProvider(c, jsii.String("Capacity"), &awsecs.AsgCapacityProviderProps{
		AutoScalingGroup: g.asg, EnableManagedTerminationProtection: jsii.Bool(false),
		EnableManagedDraining: jsii.Bool(true),
	})
	g.cluster.AddAsgCapacityProvider(cp, nil)

	// The task.
	logs := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention: p.LogRetention, RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	task := awsecs.NewEc2TaskDefinition(c, jsii.String("Task"), &awsecs.Ec2TaskDefinitionProps{
		NetworkMode: awsecs.NetworkMode_BRIDGE,
	})
	prefix := p.KeyPrefix
	p.Bucket.GrantReadWrite(task.TaskRole(), jsii.String(prefix+"*"))
	p.Bucket.GrantDelete(task.TaskRole(), jsii.String(prefix+"*"))

	g.users = awssecretsmanager.NewSecret(c, jsii.String("FirstUser"), &awssecretsmanager.SecretProps{
		Description: jsii.String("ftps3: the first FTP user (login and generated password)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String(`{"login":"partner"}`), GenerateStringKey: jsii.String("password"),
			PasswordLength: jsii.Number(24), ExcludePunctuation: jsii.Bool(true),
		},
	})
	secrets := map[string]awsecs.Secret{
		"FTP_USERS__0__LOGIN":    awsecs.Secret_FromSecretsManager(g.users, jsii.String("login")),
		"FTP_USERS__0__PASSWORD": awsecs.Secret_FromSecretsManager(g.users, jsii.String("password")),
	}
	if p.UsersSecretArn != "" {
		s := awssecretsmanager.Secret_FromSecretCompleteArn(c, jsii.String("MoreUsers"), &p.UsersSecretArn)
		secrets["FTP_USERS_JSON"] = awsecs.Secret_FromSecretsManager(s, nil)
	}
	if p.TLSSecretArn != "" {
		s := awssecretsmanager.Secret_FromSecretCompleteArn(c, jsii.String("Certificate"), &p.TLSSecretArn)
		secrets["FTP_TLS_CERT_PEM"] = awsecs.Secret_FromSecretsManager(s, jsii.String("cert"))
		secrets["FTP_TLS_KEY_PEM"] = awsecs.Secret_FromSecretsManager(s, jsii.String("key"))
	}

	if p.SFTPPort != 0 {
		if p.SFTPHostKeySecretArn != "" {
			s := awssecretsmanager.Secret_FromSecretCompleteArn(c, jsii.String("SftpHostKey"), &p.SFTPHostKeySecretArn)
			secrets["SFTP_HOST_KEY_PEM"] = awsecs.Secret_FromSecretsManager(s, nil)
		} else {
			// Random text the ed25519 host key is derived from: the same key
			// for every task, for as long as the secret lives (retained when
			// the stack is deleted, so a redeployment can keep it).
			seed := awssecretsmanager.NewSecret(c, jsii.String("SftpHostKeySeed"), &awssecretsmanager.SecretProps{
				Description: jsii.String("ftps3: the SFTP host key's seed (the key is derived from it; changing it changes the fingerprint partners trust)"),
				GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
					PasswordLength: jsii.Number(64), ExcludePunctuation: jsii.Bool(true),
				},
				RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
			})
			secrets["SFTP_HOST_KEY_SEED"] = awsecs.Secret_FromSecretsManager(seed, nil)
		}
	}

	env := map[string]*string{
		"FTP_COMMAND_PORT":     jsii.String(fmt.Sprint(p.CommandPort)),
		"FTP_DATA_PORTS_FIRST": jsii.String(fmt.Sprint(p.DataPortsFirst)),
		"FTP_DATA_PORTS_COUNT": jsii.String(fmt.Sprint(p.DataPortsCount)),
		"HEALTHCHECK_PORT":     jsii.String(fmt.Sprint(p.HealthcheckPort)),
		"FTP_HTTP_ADDR":        jsii.String(":8080"),
		"AWS_S3_BUCKET_NAME":   p.Bucket.BucketName(),
		"AWS_S3_BUCKET_REGION": awscdk.Stack_Of(c).Region(),
		"AWS_AUTH_MECHANISM":   jsii.String("ecs_role"),
		"FTP_LOG_FORMAT":       jsii.String("json"),
		"FTP_SHUTDOWN_GRACE":   jsii.String("100s"),
		"FTP_IDLE_TIMEOUT":     jsii.String("15m"),
	}
	// PASV addresses: campus networks reach the host itself; everyone else
	// comes through the load balancer.
	i := 0
	for _, cidr := range p.CampusCidrs {
		env[fmt.Sprintf("FTP_DATA_CIDR_TO_DOMAINS__%d__CIDR", i)] = jsii.String(cidr)
		env[fmt.Sprintf("FTP_DATA_CIDR_TO_DOMAINS__%d__DOMAIN", i)] = jsii.String("@ec2-local-ipv4")
		i++
	}
	if p.PublicPassiveAddress != nil {
		env[fmt.Sprintf("FTP_DATA_CIDR_TO_DOMAINS__%d__CIDR", i)] = jsii.String("0.0.0.0/0")
		env[fmt.Sprintf("FTP_DATA_CIDR_TO_DOMAINS__%d__DOMAIN", i)] = p.PublicPassiveAddress
	}
	if p.SFTPPort != 0 {
		env["SFTP_PORT"] = jsii.String(fmt.Sprint(p.SFTPPort))
	} else {
		env["SFTP_PORT"] = jsii.String("off")
	}
	if prefix != "" {
		// Every user's home is under the prefix the task role may use.
		env["FTP_USERS__0__HOME"] = jsii.String(prefix)
	}

	var ports []*awsecs.PortMapping
	mapped := append([]int{p.CommandPort, p.HealthcheckPort}, seq(p.DataPortsFirst, lastData)...)
	if p.SFTPPort != 0 {
		mapped = append(mapped, p.SFTPPort)
	}
	for _, port := range mapped {
		ports = append(ports, &awsecs.PortMapping{ContainerPort: num(port), HostPort: num(port), Protocol: awsecs.Protocol_TCP})
	}
	platform, other := "linux/amd64", "arm64"
	if p.Arm64 {
		platform, other = "linux/arm64", "amd64"
	}
	g.container = task.AddContainer(jsii.String(ContainerName), &awsecs.ContainerDefinitionOptions{
		Image: awsecs.ContainerImage_FromAsset(&p.ImageDirectory, &awsecs.AssetImageProps{
			File: jsii.String("docker/Dockerfile"), Platform: awsecrassets.Platform_Custom(&platform),
			// The context holds this architecture's binary only (the
			// Dockerfile copies dist/linux-*/ftps3).
			Exclude: jsii.Strings("dist/linux-" + other),
		}),
		MemoryReservationMiB: jsii.Number(768), MemoryLimitMiB: jsii.Number(1536),
		PortMappings: &ports,
		Logging:      awsecs.LogDrivers_AwsLogs(&awsecs.AwsLogDriverProps{StreamPrefix: jsii.String("gateway"), LogGroup: logs}),
		HealthCheck: &awsecs.HealthCheck{
			Command:  jsii.Strings("CMD", "/ftps3", "-healthcheck"),
			Interval: awscdk.Duration_Seconds(jsii.Number(15)), Timeout: awscdk.Duration_Seconds(jsii.Number(5)),
			Retries: jsii.Number(3), StartPeriod: awscdk.Duration_Seconds(jsii.Number(20)),
		},
		StopTimeout: awscdk.Duration_Seconds(jsii.Number(120)),
	})
	// Sorted, so that every synth renders the same task definition.
	for _, name := range sortedKeys(env) {
		g.container.AddEnvironment(jsii.String(name), env[name])
	}
	for _, name := range sortedKeys(secrets) {
		g.container.AddSecret(jsii.String(name), secrets[name])
	}

	g.service = awsecs.NewEc2Service(c, jsii.String("Service"), &awsecs.Ec2ServiceProps{
		Cluster: g.cluster, TaskDefinition: task, DesiredCount: jsii.Number(1),
		// Static host ports: a new task cannot start beside the old one, so
		// a deployment stops the old task first.
		MinHealthyPercent: jsii.Number(0), MaxHealthyPercent: jsii.Number(100),
		PlacementConstraints: &[]awsecs.PlacementConstraint{awsecs.PlacementConstraint_DistinctInstances()},
		CapacityProviderStrategies: &[]*awsecs.CapacityProviderStrategy{{
			CapacityProvider: cp.CapacityProviderName(), Weight: jsii.Number(1),
		}},
		CircuitBreaker: &awsecs.DeploymentCircuitBreaker{Rollback: jsii.Bool(true)},
		CloudMapOptions: &awsecs.CloudMapOptions{
			Name: jsii.String(ContainerName), DnsRecordType: awsservicediscovery.DnsRecordType_SRV,
			Container: g.container, ContainerPort: num(p.CommandPort), DnsTtl: awscdk.Duration_Seconds(jsii.Number(30)),
		},
	})
	// The first deployment must not create the service before the cluster
	// knows its capacity provider ("capacity provider ... not associated
	// with the cluster"). CDK creates that association at synth time, in an
	// aspect of the cluster; this one runs after it.
	awscdk.Aspects_Of(g.cluster).Add(&dependOnAssociation{cluster: g.cluster, service: g.service},
		&awscdk.AspectOptions{Priority: awscdk.AspectPriority_READONLY()})

	// The task is gone but the host lives (a crash loop, a task that cannot
	// be placed): fewer running tasks than desired for 3 minutes, from
	// Container Insights (a normal replacement takes about one).
	insight := func(name string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("ECS/ContainerInsights"), MetricName: jsii.String(name),
			DimensionsMap: &map[string]*string{"ClusterName": g.cluster.ClusterName(), "ServiceName": g.service.ServiceName()},
			Statistic:     jsii.String("Average"), Period: awscdk.Duration_Minutes(jsii.Number(1)),
		})
	}
	awscloudwatch.NewAlarm(c, jsii.String("TasksBelowDesired"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("ftps3: fewer gateway tasks running than desired"),
		Metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String("desired - running"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{"desired": insight("DesiredTaskCount"), "running": insight("RunningTaskCount")},
			Label:        jsii.String("missing tasks"), Period: awscdk.Duration_Minutes(jsii.Number(1)),
		}),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		Threshold:          jsii.Number(1), EvaluationPeriods: jsii.Number(3),
		TreatMissingData: awscloudwatch.TreatMissingData_BREACHING,
	})
	return g
}

// dependOnAssociation makes the service depend on the cluster's
// capacity-provider association once CDK has created it.
type dependOnAssociation struct {
	cluster awsecs.Cluster
	service awsecs.Ec2Service
	done    bool
}

func (a *dependOnAssociation) Visit(node constructs.IConstruct) {
	if a.done || *node.Node().Path() != *a.cluster.Node().Path() {
		return
	}
	for _, child := range *a.cluster.Node().Children() {
		if r, ok := child.(awscdk.CfnResource); ok && *r.CfnResourceType() == "AWS::ECS::ClusterCapacityProviderAssociations" {
			a.service.Node().AddDependency(r)
			a.done = true
			return
		}
	}
	panic("gateway: the cluster has no capacity provider association to depend on")
}

// AmiParameter is the SSM parameter that names the current ECS-optimized
// Amazon Linux 2023 AMI.
func AmiParameter(arm64 bool) string {
	if arm64 {
		return "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id"
	}
	return "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

// blockIMDSUnit applies, at every boot once Docker runs and before the ECS
// agent starts, the rule AWS documents for bridge-mode tasks: packets from
// containers (docker+ interfaces) to instance metadata are dropped, so the
// internet-facing gateway cannot read the instance role's credentials.
// DOCKER-USER is the chain Docker evaluates before its own rules and keeps
// across its restarts. Tasks keep their own role through the ECS agent's
// credentials endpoint (169.254.170.2).
const blockIMDSUnit = `[Unit]
Description=ftps3: containers may not reach EC2 instance metadata
Requires=docker.service
After=docker.service
Before=ecs.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'iptables -C DOCKER-USER -i docker+ -d 169.254.169.254/32 -j DROP 2>/dev/null || iptables --insert DOCKER-USER 1 --in-interface docker+ --destination 169.254.169.254/32 --jump DROP'
[Install]
WantedBy=multi-user.target
`

// hostUserData configures the ECS agent (CDK appends ECS_CLUSTER) and blocks
// instance metadata for containers. It stops at the first failure: a host
// that cannot block metadata never joins the cluster, and the task-count
// alarm says so.
func hostUserData() awsec2.UserData {
	ud := awsec2.UserData_ForLinux(nil)
	for _, cmd := range []string{
		"set -eu",
		// The container metadata file carries HostPrivateIPv4Address, the
		// PASV address for campus clients.
		"echo ECS_ENABLE_CONTAINER_METADATA=true >> /etc/ecs/ecs.config",
		"cat > /etc/systemd/system/ftps3-block-imds.service <<'UNIT'\n" + blockIMDSUnit + "UNIT",
		"systemctl daemon-reload",
		"systemctl enable --now ftps3-block-imds.service",
	} {
		ud.AddCommands(jsii.String(cmd))
	}
	return ud
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func seq(from, to int) []int {
	var out []int
	for p := from; p <= to; p++ {
		out = append(out, p)
	}
	return out
}
