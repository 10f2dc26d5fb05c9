// Package network is the VPC the gateway runs in: a new one, with a public
// subnet (load balancer, NAT gateway) and a private subnet (hosts) in each of
// two zones and a NAT gateway per zone, so that a host relaunched in either
// zone reaches ECS, ECR, CloudWatch Logs and Secrets Manager when the other
// zone is down; or an existing VPC, found by lookup (campus networks reach
// hosts over Direct Connect only through a VPC that routes back to them).
package network

import (
	"fmt"
	"net"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Zones is how many availability zones a new VPC spans.
const Zones = 2

// Props configure the network.
type Props struct {
	// VpcID is an existing VPC (looked up at synth time); empty: a new VPC.
	VpcID string
	// CampusCidrs must not overlap the VPC's CIDR: replies to an address in
	// both would stay in the VPC.
	CampusCidrs []string
}

// Network is the VPC, for the load balancer and the hosts.
type Network interface {
	constructs.Construct
	Vpc() awsec2.IVpc
}

type network struct {
	constructs.Construct
	vpc awsec2.IVpc
}

func (n *network) Vpc() awsec2.IVpc { return n.vpc }

// New creates or looks up the VPC. With an existing VPC it fails if a campus
// CIDR overlaps the VPC's CIDR (settings accept campus CIDRs only with an
// existing VPC).
func New(scope constructs.Construct, id string, p Props) (Network, error) {
	n := &network{}
	constructs.NewConstruct_Override(n, scope, &id)
	if p.VpcID != "" {
		n.vpc = awsec2.Vpc_FromLookup(n, jsii.String("Vpc"), &awsec2.VpcLookupOptions{VpcId: &p.VpcID})
		// Until the CDK CLI has answered the lookup, the VPC is a placeholder
		// with another id; the CLI synthesizes again with the answer.
		if *n.vpc.VpcId() == p.VpcID {
			if err := CheckOverlap(*n.vpc.VpcCidrBlock(), p.CampusCidrs); err != nil {
				return nil, fmt.Errorf("VPC %s: %w", p.VpcID, err)
			}
		}
		return n, nil
	}
	vpc := awsec2.NewVpc(n, jsii.String("Vpc"), &awsec2.VpcProps{
		MaxAzs: jsii.Number(Zones), NatGateways: jsii.Number(Zones),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
			{Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
			{Name: jsii.String("hosts"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(24)},
		},
		GatewayEndpoints: &map[string]*awsec2.GatewayVpcEndpointOptions{
			"S3": {Service: awsec2.GatewayVpcEndpointAwsService_S3()},
		},
	})
	vpc.AddFlowLog(jsii.String("FlowLog"), nil)
	n.vpc = vpc
	return n, nil
}

// CheckOverlap fails if any campus CIDR shares an address with vpcCidr.
func CheckOverlap(vpcCidr string, campusCidrs []string) error {
	_, vpcNet, err := net.ParseCIDR(vpcCidr)
	if err != nil {
		return fmt.Errorf("the VPC's CIDR %q cannot be read: %w", vpcCidr, err)
	}
	for _, c := range campusCidrs {
		_, campus, err := net.ParseCIDR(c)
		if err != nil {
			return fmt.Errorf("campusCidrs: %q is not a CIDR", c)
		}
		if campus.Contains(vpcNet.IP) || vpcNet.Contains(campus.IP) {
			return fmt.Errorf("campusCidrs: %s overlaps the VPC's CIDR %s: replies to those campus addresses would stay inside the VPC; remove it from campusCidrs or use a VPC with another range", c, vpcCidr)
		}
	}
	return nil
}
