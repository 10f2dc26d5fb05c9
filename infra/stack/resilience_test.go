package stack

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
)

// A host relaunched in either zone has its own way out (ECS, ECR, logs,
// Secrets Manager): a NAT gateway per zone, each private subnet routed to
// the one in its own zone.
func TestEveryZoneHasItsOwnWayOut(t *testing.T) {
	nats := public.resources("AWS::EC2::NatGateway")
	if len(nats) != 2 {
		t.Fatalf("%d NAT gateways, want one per zone (2)", len(nats))
	}
	natSubnet := map[string]string{} // NAT → its public subnet
	for id, n := range nats {
		natSubnet[id] = props(n)["SubnetId"].(map[string]any)["Ref"].(string)
	}
	subnets := public.resources("AWS::EC2::Subnet")
	zone := func(subnet string) string {
		b, _ := json.Marshal(props(subnets[subnet])["AvailabilityZone"])
		return string(b)
	}
	tables := map[string]string{} // route table → subnet
	for _, a := range public.resources("AWS::EC2::SubnetRouteTableAssociation") {
		p := props(a)
		tables[p["RouteTableId"].(map[string]any)["Ref"].(string)] = p["SubnetId"].(map[string]any)["Ref"].(string)
	}
	used := map[string]bool{}
	for id, r := range public.resources("AWS::EC2::Route") {
		p := props(r)
		nat, ok := p["NatGatewayId"].(map[string]any)
		if !ok || p["DestinationCidrBlock"] != "0.0.0.0/0" {
			continue
		}
		natID := nat["Ref"].(string)
		host := tables[p["RouteTableId"].(map[string]any)["Ref"].(string)]
		if zone(host) != zone(natSubnet[natID]) {
			t.Errorf("%s: hosts in %s leave through a NAT gateway in %s", id, zone(host), zone(natSubnet[natID]))
		}
		used[natID] = true
	}
	if len(used) != 2 {
		t.Errorf("private subnets use %d NAT gateways, want 2", len(used))
	}
	_, asg := public.one(t, "AWS::AutoScaling::AutoScalingGroup")
	if ids, _ := props(asg)["VPCZoneIdentifier"].([]any); len(ids) != 2 {
		t.Errorf("hosts may launch in %d subnets, want both zones", len(ids))
	}
	// An existing VPC is the deployer's: the stack adds no NAT gateway.
	campus.count(t, "AWS::EC2::NatGateway", 0)
	_, casg := campus.one(t, "AWS::AutoScaling::AutoScalingGroup")
	if ids, _ := json.Marshal(props(casg)["VPCZoneIdentifier"]); string(ids) != `["subnet-0a0000000000000a2","subnet-0b0000000000000b2"]` {
		t.Errorf("hosts in the existing VPC launch in %s, want its two private subnets", ids)
	}
}

// The first deployment fails if ECS creates the service before the cluster
// knows the capacity provider the service names.
func TestServiceWaitsForTheCapacityProviderAssociation(t *testing.T) {
	for name, s := range map[string]synthesized{"public": public, "campus": campus} {
		assoc, _ := s.one(t, "AWS::ECS::ClusterCapacityProviderAssociations")
		for id, svc := range s.resources("AWS::ECS::Service") {
			deps, _ := svc["DependsOn"].([]any)
			if !slices.Contains(deps, any(assoc)) {
				t.Errorf("%s: service %s depends on %v, not on the association %s", name, id, deps, assoc)
			}
		}
	}
}

// ECS managed instance draining is the only termination hook: no CDK drain
// Lambda, topic or lifecycle hook that would hold a dead host 5 minutes.
func TestOnlyECSManagedDraining(t *testing.T) {
	public.has(t, "AWS::ECS::CapacityProvider", map[string]any{"AutoScalingGroupProvider": assertions.Match_ObjectLike(&map[string]any{
		"ManagedDraining": "ENABLED", "ManagedTerminationProtection": "DISABLED",
	})})
	public.count(t, "AWS::AutoScaling::LifecycleHook", 0)
	public.count(t, "AWS::SNS::Topic", 0)
	public.count(t, "AWS::Lambda::Function", 0)
	campus.count(t, "AWS::Lambda::Function", 1) // the DNS sync
}

func TestAlarms(t *testing.T) {
	for name, s := range map[string]synthesized{"public": public, "campus": campus} {
		t.Run(name, func(t *testing.T) {
			// The task is gone but its host lives.
			s.has(t, "AWS::CloudWatch::Alarm", map[string]any{
				"ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 1, "EvaluationPeriods": 3,
				"Metrics": assertions.Match_ArrayWith(&[]any{
					assertions.Match_ObjectLike(&map[string]any{"Expression": "desired - running"}),
					assertions.Match_ObjectLike(&map[string]any{"Id": "desired", "MetricStat": assertions.Match_ObjectLike(&map[string]any{
						"Metric": assertions.Match_ObjectLike(&map[string]any{"Namespace": "ECS/ContainerInsights", "MetricName": "DesiredTaskCount"}),
					})}),
					assertions.Match_ObjectLike(&map[string]any{"Id": "running", "MetricStat": assertions.Match_ObjectLike(&map[string]any{
						"Metric": assertions.Match_ObjectLike(&map[string]any{"Namespace": "ECS/ContainerInsights", "MetricName": "RunningTaskCount"}),
					})}),
				}),
			})
			// Nobody can connect through the load balancer.
			s.has(t, "AWS::CloudWatch::Alarm", map[string]any{
				"Namespace": "AWS/NetworkELB", "MetricName": "HealthyHostCount", "Statistic": "Minimum",
				"ComparisonOperator": "LessThanThreshold", "Threshold": 1, "TreatMissingData": "breaching",
				"Dimensions": assertions.Match_ArrayWith(&[]any{
					assertions.Match_ObjectLike(&map[string]any{"Name": "LoadBalancer"}),
					assertions.Match_ObjectLike(&map[string]any{"Name": "TargetGroup"}),
				}),
			})
		})
	}
}

// Hosts launch on the current ECS-optimized AMI and are replaced within 14
// days, a new host first, the task drained by ECS before the old one goes.
func TestHostsAreReplacedOnTheCurrentAMI(t *testing.T) {
	public.has(t, "AWS::EC2::LaunchTemplate", map[string]any{"LaunchTemplateData": assertions.Match_ObjectLike(&map[string]any{
		"ImageId": "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
	})})
	public.has(t, "AWS::AutoScaling::AutoScalingGroup", map[string]any{
		"MinSize": "2", "MaxSize": "3", "MaxInstanceLifetime": 14 * 24 * 3600,
		"InstanceMaintenancePolicy": map[string]any{"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200},
	})
}

// The internet-facing container cannot read the instance role's
// credentials: metadata is dropped for containers and out of a container's
// reach by the hop limit; the host's address comes from the ECS container
// metadata file.
func TestContainersCannotReachInstanceMetadata(t *testing.T) {
	for name, s := range map[string]synthesized{"public": public, "campus": campus} {
		_, lt := s.one(t, "AWS::EC2::LaunchTemplate")
		data := props(lt)["LaunchTemplateData"].(map[string]any)
		if hop := data["MetadataOptions"].(map[string]any)["HttpPutResponseHopLimit"]; hop != float64(1) {
			t.Errorf("%s: metadata hop limit %v, want 1", name, hop)
		}
		// The script is Fn::Base64 of an Fn::Join: its text parts, in order.
		var userData string
		for _, part := range data["UserData"].(map[string]any)["Fn::Base64"].(map[string]any)["Fn::Join"].([]any)[1].([]any) {
			if s, ok := part.(string); ok {
				userData += s
			}
		}
		for _, want := range []string{
			"ECS_ENABLE_CONTAINER_METADATA=true >> /etc/ecs/ecs.config",
			"iptables --insert DOCKER-USER 1 --in-interface docker+ --destination 169.254.169.254/32 --jump DROP",
			"Before=ecs.service",
			"systemctl enable --now ftps3-block-imds.service",
			"ECS_CLUSTER=",
		} {
			if !strings.Contains(userData, want) {
				t.Errorf("%s: user data lacks %q:\n%s", name, want, userData)
			}
		}
		if strings.Index(userData, "ECS_CLUSTER=") < strings.Index(userData, "ftps3-block-imds") {
			t.Errorf("%s: the host joins the cluster before metadata is blocked", name)
		}
	}
}

// Campus clients reach the hosts through the deployer's VPC: its range
// must not hold a campus network.
func TestCampusCidrOverlappingTheVPCFailsTheSynth(t *testing.T) {
	ctx := campusContext()
	ctx["campusCidrs"] = []any{"192.168.0.0/16", "10.0.0.0/8"} // the VPC is 10.20.0.0/16
	_, err := synth(ctx, campusEnv)
	if err == nil || !strings.Contains(err.Error(), "campusCidrs: 10.0.0.0/8 overlaps the VPC's CIDR 10.20.0.0/16") {
		t.Fatalf("err = %v", err)
	}
}
