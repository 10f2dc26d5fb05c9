// Package loadbalancer is the public front of the gateway: a Network Load
// Balancer created with its own security group (one cannot be added later),
// a static Elastic IP per public subnet (addresses partners can allow in
// their firewalls; cross-zone load balancing makes any of them reach the
// host), and a TCP listener with an instance target group per FTP port.
// Instance targets keep the clients' addresses, which the gateway uses to tie
// a data connection to its control connection.
//
// Several gateway tasks: every host is a target of every target group. The
// command port's group (and SFTP's) checks the TCP health port, so they
// balance across every healthy task. A data port's group asks the health
// HTTP port /owner/PORT, which only the task owning that port answers with
// 200: each data port has exactly one healthy target, the task that handed
// it out in a PASV/EPSV reply. A draining task keeps answering for its
// ports (its sessions still open data connections) while its TCP health
// port closes (no new sessions).
//
// PASV replies to public clients name the load balancer's DNS name, which
// the gateway resolves (and caches for a minute): when a zone fails, its
// address leaves the name, so passive connections keep working through the
// other zone. Zonal shift is enabled so an operator (or zonal autoshift) can
// take an impaired zone's address out of the name by hand.
package loadbalancer

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configure the load balancer.
type Props struct {
	Vpc         awsec2.IVpc
	PublicCidrs []string
	// Ports are the shared FTP ports (the command port), each a listener
	// balanced over every healthy host; DataPorts the passive data ports,
	// each a listener whose healthy target is the port's owner alone,
	// asked on OwnerCheckPort (HTTP GET /owner/PORT).
	Ports           []int
	DataPorts       []int
	HealthcheckPort int
	OwnerCheckPort  int
	IdleTimeoutSecs int
	// Forwards are listeners whose port differs from the hosts' (SFTP: 22
	// on the load balancer, 2222 on the hosts).
	Forwards []Forward
}

// Forward is a listener on ListenerPort forwarding to TargetPort on the hosts.
type Forward struct {
	Name                     string // for descriptions: "SFTP"
	ListenerPort, TargetPort int
	owned                    bool // a data port: only its owner is healthy
}

// OwnerPath is the health check path that only the owner of a data port
// answers with 200 (app/health).
func OwnerPath(port int) string { return fmt.Sprintf("/owner/%d", port) }

// LoadBalancer is what other parts of the stack need.
type LoadBalancer interface {
	constructs.Construct
	SecurityGroup() awsec2.ISecurityGroup
	// DNSName is the name partners connect to, and the PASV address for
	// public clients (it resolves to the addresses of the healthy zones).
	DNSName() *string
	// Addresses are the static public IPv4 addresses, one per zone.
	Addresses() []*string
	// Register makes the hosts of asg the targets of every listener.
	Register(asg awsautoscaling.AutoScalingGroup)
}

type loadBalancer struct {
	constructs.Construct
	nlb    elbv2.NetworkLoadBalancer
	sg     awsec2.SecurityGroup
	eips   []awsec2.CfnEIP
	groups []elbv2.NetworkTargetGroup
}

func (l *loadBalancer) SecurityGroup() awsec2.ISecurityGroup { return l.sg }
func (l *loadBalancer) DNSName() *string                     { return l.nlb.LoadBalancerDnsName() }

func (l *loadBalancer) Addresses() []*string {
	var out []*string
	for _, e := range l.eips {
		out = append(out, e.AttrPublicIp())
	}
	return out
}

func (l *loadBalancer) Register(asg awsautoscaling.AutoScalingGroup) {
	for _, g := range l.groups {
		asg.AttachToNetworkTargetGroup(g)
	}
}

// New creates the load balancer, its listeners and target groups, and an
// alarm when no host is healthy behind it.
func New(scope constructs.Construct, id string, p Props) LoadBalancer {
	l := &loadBalancer{}
	constructs.NewConstruct_Override(l, scope, &id)
	c := l
	l.sg = awsec2.NewSecurityGroup(c, jsii.String("SecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: p.Vpc, AllowAllOutbound: jsii.Bool(true),
		Description: jsii.String("ftps3 load balancer: FTP ports from the allowed client networks"),
	})
	for _, cidr := range p.PublicCidrs {
		for _, port := range append(append([]int{}, p.Ports...), p.DataPorts...) {
			l.sg.AddIngressRule(awsec2.Peer_Ipv4(jsii.String(cidr)), awsec2.Port_Tcp(jsii.Number(float64(port))),
				jsii.String("FTPS clients "+cidr), nil)
		}
	}
	for _, cidr := range p.PublicCidrs {
		for _, f := range p.Forwards {
			l.sg.AddIngressRule(awsec2.Peer_Ipv4(jsii.String(cidr)), awsec2.Port_Tcp(jsii.Number(float64(f.ListenerPort))),
				jsii.String(f.Name+" clients "+cidr), nil)
		}
	}
	var mappings []*elbv2.SubnetMapping
	for i, subnet := range *p.Vpc.PublicSubnets() {
		eip := awsec2.NewCfnEIP(c, jsii.String(fmt.Sprintf("Address%d", i)), &awsec2.CfnEIPProps{Domain: jsii.String("vpc")})
		l.eips = append(l.eips, eip)
		mappings = append(mappings, &elbv2.SubnetMapping{Subnet: subnet, AllocationId: eip.AttrAllocationId()})
	}
	if len(mappings) == 0 {
		panic("loadbalancer: the VPC has no public subnet for the internet-facing load balancer")
	}
	l.nlb = elbv2.NewNetworkLoadBalancer(c, jsii.String("Nlb"), &elbv2.NetworkLoadBalancerProps{
		Vpc: p.Vpc, InternetFacing: jsii.Bool(true), CrossZoneEnabled: jsii.Bool(true), ZonalShift: jsii.Bool(true),
		SecurityGroups: &[]awsec2.ISecurityGroup{l.sg}, SubnetMappings: &mappings,
	})
	listeners := make([]Forward, 0, len(p.Ports)+len(p.DataPorts)+len(p.Forwards))
	for _, port := range p.Ports {
		listeners = append(listeners, Forward{ListenerPort: port, TargetPort: port})
	}
	listeners = append(listeners, p.Forwards...)
	for _, port := range p.DataPorts {
		listeners = append(listeners, Forward{ListenerPort: port, TargetPort: port, owned: true})
	}
	for _, f := range listeners {
		port := f.TargetPort
		check := &elbv2.HealthCheck{
			Protocol: elbv2.Protocol_TCP, Port: jsii.String(fmt.Sprint(p.HealthcheckPort)),
			Interval: awscdk.Duration_Seconds(jsii.Number(10)), HealthyThresholdCount: jsii.Number(2), UnhealthyThresholdCount: jsii.Number(2),
		}
		if f.owned {
			check.Protocol, check.Port = elbv2.Protocol_HTTP, jsii.String(fmt.Sprint(p.OwnerCheckPort))
			check.Path, check.HealthyHttpCodes = jsii.String(OwnerPath(port)), jsii.String("200")
		}
		listener := l.nlb.AddListener(jsii.String(fmt.Sprintf("Port%d", f.ListenerPort)), &elbv2.BaseNetworkListenerProps{
			Port: jsii.Number(float64(f.ListenerPort)), Protocol: elbv2.Protocol_TCP,
			// Long uploads and idle control connections between them.
			TcpIdleTimeout: awscdk.Duration_Seconds(jsii.Number(float64(p.IdleTimeoutSecs))),
		})
		group := elbv2.NewNetworkTargetGroup(c, jsii.String(fmt.Sprintf("Targets%d", port)), &elbv2.NetworkTargetGroupProps{
			Vpc: p.Vpc, Port: jsii.Number(float64(port)), Protocol: elbv2.Protocol_TCP, TargetType: elbv2.TargetType_INSTANCE,
			PreserveClientIp:    jsii.Bool(true),
			DeregistrationDelay: awscdk.Duration_Seconds(jsii.Number(120)),
			HealthCheck:         check,
		})
		listener.AddTargetGroups(jsii.String("Gateway"), group)
		l.groups = append(l.groups, group)
	}

	// The first target group (the command port) has every healthy host. Two
	// minutes without one means nobody can connect through the load
	// balancer.
	awscloudwatch.NewAlarm(c, jsii.String("NoHealthyHost"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("ftps3: no healthy gateway host behind the load balancer (port " + fmt.Sprint(p.Ports[0]) + ")"),
		Metric: l.groups[0].Metrics().HealthyHostCount(&awscloudwatch.MetricOptions{
			Period: awscdk.Duration_Minutes(jsii.Number(1)), Statistic: jsii.String("Minimum"),
		}),
		ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		Threshold:          jsii.Number(1), EvaluationPeriods: jsii.Number(2),
		TreatMissingData: awscloudwatch.TreatMissingData_BREACHING,
	})
	return l
}
