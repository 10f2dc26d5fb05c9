// Package gateway runs the ftps3 gateway on ECS on EC2 in bridge network
// mode: gatewayTasks tasks, one per host, the hosts spread over the zones,
// every FTP port published on the same host port, registered in Cloud Map as
// an SRV record.
//
// Active-active: a passive data connection must reach the task that holds
// the client's control connection. So each task is a slot with an ECS
// service of its own and a block of data ports of its own (slot i:
// DataPortsFirst + i*DataPortsCount ...), and hands out only that block in
// PASV/EPSV replies; the load balancer's target group for a data port has
// every host registered, but only the owner's answers its ownership health
// check (see infra/loadbalancer). The command and SFTP ports are shared and
// balance across every healthy task. Static host ports keep one task per
// host. The slots' services are updated one after the other (each depends
// on the previous one), so a deployment replaces one task at a time and the
// others keep serving; the task being replaced drains its transfers.
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

	// Tasks is how many gateway tasks (slots, hosts) run; task i owns the
	// data ports DataPortsFirst + i*DataPortsCount ... + DataPortsCount - 1.
	Tasks int

	CommandPort, DataPortsFirst, DataPortsCount, HealthcheckPort int
	// HealthHTTPPort is the gateway's HTTP port (FTP_HTTP_ADDR), published
	// on the host: /healthz, and /owner/PORT, the load balancer's
	// ownership check for a data port.
	HealthHTTPPort int
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

	// UsersSecretArn: the operator's secret holding the user list (the JSON
	// of FTP_USERS_JSON); without it the stack creates one holding the
	// first user. Either way the gateway reads it itself (by id, through the
	// task role) and reloads it while running: no restart for a new user.
	UsersSecretArn string
	// UsersSecretKeyArn: the customer managed KMS key that encrypts the
	// operator's users secret, if any (the task role may decrypt with it,
	// through Secrets Manager only).
	UsersSecretKeyArn string
	TLSSecretArn      string // optional: cert and key

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
	// Services are the slots' services, slot 0 first.
	Services() []awsecs.Ec2Service
	AutoScalingGroup() awsautoscaling.AutoScalingGroup
	InstanceSecurityGroup() awsec2.ISecurityGroup
	UsersSecret() awssecretsmanager.ISecret
	Namespace() awsservicediscovery.INamespace
	// Containers are the slots' gateway containers, for the task
	// definitions' environment (the contract with app/config).
	Containers() []awsecs.ContainerDefinition
}

type gateway struct {
	constructs.Construct
	cluster    awsecs.Cluster
	services   []awsecs.Ec2Service
	asg        awsautoscaling.AutoScalingGroup
	sg         awsec2.SecurityGroup
	users      awssecretsmanager.ISecret
	containers []awsecs.ContainerDefinition
}

func (g *gateway) Cluster() awsecs.ICluster                          { return g.cluster }
func (g *gateway) Services() []awsecs.Ec2Service                     { return g.services }
func (g *gateway) AutoScalingGroup() awsautoscaling.AutoScalingGroup { return g.asg }
func (g *gateway) InstanceSecurityGroup() awsec2.ISecurityGroup      { return g.sg }
func (g *gateway) UsersSecret() awssecretsmanager.ISecret            { return g.users }
func (g *gateway) Containers() []awsecs.ContainerDefinition          { return g.containers }
func (g *gateway) Namespace() awsservicediscovery.INamespace {
	return g.cluster.DefaultCloudMapNamespace()
}

func num(n int) *float64 { return jsii.Number(float64(n)) }

// New builds the cluster, its host and the service.
func New(scope constructs.Construct, id string, p Props) Gateway {
	g := &gateway{}
	constructs.NewConstruct_Override(g, scope, &id)
	c := g
	tasks := max(1, p.Tasks)
	lastData := p.DataPortsFirst + tasks*p.DataPortsCount - 1

	// Who may reach the host.
	g.sg = awsec2.NewSecurityGroup(c, jsii.String("Instances"), &awsec2.SecurityGroupProps{
		Vpc: p.Vpc, AllowAllOutbound: jsii.Bool(true),
		Description: jsii.String("ftps3 gateway hosts: FTP ports from the load balancer and campus networks"),
	})
	ftpPorts := []awsec2.Port{awsec2.Port_Tcp(num(p.CommandPort)), awsec2.Port_TcpRange(num(p.DataPortsFirst), num(lastData))}
	if p.SFTPPort != 0 {
		ftpPorts = append(ftpPorts, awsec2.Port_Tcp(num(p.SFTPPort)))
	}
	for _, port := range append(ftpPorts, awsec2.Port_Tcp(num(p.HealthcheckPort)), awsec2.Port_Tcp(num(p.HealthHTTPPort))) {
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
		// A host per task, in every zone of the private subnets (the group
		// balances its hosts across them); room for one more while a host
		// is replaced (launch before terminate).
		MinCapacity: num(tasks), MaxCapacity: num(tasks + 1),
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

	// The tasks: one ECS service per slot, each with its own block of data
	// ports; they share the task role, the log group, the user list and
	// the image.
	logs := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention: p.LogRetention, RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	taskRole := awsiam.NewRole(c, jsii.String("TaskRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
		Description: jsii.String("ftps3 gateway tasks: the bucket under the key prefix, the user list"),
	})
	prefix := p.KeyPrefix
	p.Bucket.GrantReadWrite(taskRole, jsii.String(prefix+"*"))
	p.Bucket.GrantDelete(taskRole, jsii.String(prefix+"*"))
	// The state of cut uploads kept for resuming (UPLOAD_RESUME_WINDOW)
	// lives at the bucket's root, outside every user's files.
	p.Bucket.GrantReadWrite(taskRole, jsii.String(".ftps3/pending/*"))
	p.Bucket.GrantDelete(taskRole, jsii.String(".ftps3/pending/*"))

	g.users = usersSecret(c, p.UsersSecretArn, prefix)
	grantUsersSecret(taskRole, g.users, p.UsersSecretKeyArn)
	secrets := map[string]awsecs.Secret{}
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
		"FTP_DATA_PORTS_COUNT": jsii.String(fmt.Sprint(p.DataPortsCount)),
		"HEALTHCHECK_PORT":     jsii.String(fmt.Sprint(p.HealthcheckPort)),
		"FTP_HTTP_ADDR":        jsii.String(fmt.Sprintf(":%d", p.HealthHTTPPort)),
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
	// The gateway reads the user list itself and reloads it every minute.
	env["FTP_USERS_SECRET_ID"] = g.users.SecretArn()

	platform, other := "linux/amd64", "arm64"
	if p.Arm64 {
		platform, other = "linux/arm64", "amd64"
	}
	image := awsecs.ContainerImage_FromAsset(&p.ImageDirectory, &awsecs.AssetImageProps{
		File: jsii.String("docker/Dockerfile"), Platform: awsecrassets.Platform_Custom(&platform),
		// The context holds this architecture's binary only (the
		// Dockerfile copies dist/linux-*/ftps3).
		Exclude: jsii.Strings("dist/linux-" + other),
	})
	for i := 0; i < tasks; i++ {
		first := p.DataPortsFirst + i*p.DataPortsCount
		slotEnv := map[string]*string{"FTP_DATA_PORTS_FIRST": jsii.String(fmt.Sprint(first))}
		for k, v := range env {
			slotEnv[k] = v
		}
		mapped := append([]int{p.CommandPort, p.HealthcheckPort, p.HealthHTTPPort}, seq(first, first+p.DataPortsCount-1)...)
		if p.SFTPPort != 0 {
			mapped = append(mapped, p.SFTPPort)
		}
		g.addSlot(i, slotProps{taskRole: taskRole, image: image, logs: logs, env: slotEnv, secrets: secrets, ports: mapped,
			commandPort: p.CommandPort, capacity: cp.CapacityProviderName()})
	}
	// The first deployment must not create the service before the cluster
	// knows its capacity provider ("capacity provider ... not associated
	// with the cluster"). CDK creates that association at synth time, in an
	// aspect of the cluster; this one runs after it.
	awscdk.Aspects_Of(g.cluster).Add(&dependOnAssociation{cluster: g.cluster, services: g.services},
		&awscdk.AspectOptions{Priority: awscdk.AspectPriority_READONLY()})

	return g
}

// dependOnAssociation makes the service depend on the cluster's
// capacity-provider association once CDK has created it.
type dependOnAssociation struct {
	cluster  awsecs.Cluster
	services []awsecs.Ec2Service
	done     bool
}

func (a *dependOnAssociation) Visit(node constructs.IConstruct) {
	if a.done || *node.Node().Path() != *a.cluster.Node().Path() {
		return
	}
	for _, child := range *a.cluster.Node().Children() {
		if r, ok := child.(awscdk.CfnResource); ok && *r.CfnResourceType() == "AWS::ECS::ClusterCapacityProviderAssociations" {
			for _, svc := range a.services {
				svc.Node().AddDependency(r)
			}
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
