package stack

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
)

// Active-active: gatewayTasks (2 by default) slots, each an ECS service of
// one task with its own block of data ports, sharing the command, health
// and SFTP ports (so one task per host).
func TestEachSlotOwnsABlockOfDataPorts(t *testing.T) {
	campus.count(t, "AWS::ECS::Service", 2)
	campus.count(t, "AWS::ECS::TaskDefinition", 2)
	for _, block := range [][2]int{{9022, 9033}, {9034, 9045}} {
		var mappings []any
		for _, p := range append(append([]int{9021, 9081, 8080}, seq(block[0], block[1])...), 2222) {
			mappings = append(mappings, map[string]any{"ContainerPort": p, "HostPort": p, "Protocol": "tcp"})
		}
		campus.has(t, "AWS::ECS::TaskDefinition", map[string]any{
			"NetworkMode": "bridge",
			"ContainerDefinitions": []any{assertions.Match_ObjectLike(&map[string]any{
				"PortMappings": mappings, // exactly: no other slot's port
				"Environment": assertions.Match_ArrayWith(&[]any{
					map[string]any{"Name": "FTP_DATA_PORTS_COUNT", "Value": "12"},
					map[string]any{"Name": "FTP_DATA_PORTS_FIRST", "Value": fmt.Sprint(block[0])},
					map[string]any{"Name": "FTP_HTTP_ADDR", "Value": ":8080"},
				}),
			})},
		})
	}
	for id, svc := range campus.resources("AWS::ECS::Service") {
		p := props(svc)
		if p["DesiredCount"] != float64(1) {
			t.Errorf("%s runs %v tasks, want 1 (a slot)", id, p["DesiredCount"])
		}
		b, _ := json.Marshal(p["PlacementConstraints"])
		if !strings.Contains(string(b), "distinctInstance") {
			t.Errorf("%s: no distinctInstance placement", id)
		}
	}
}

// A deployment replaces one slot at a time: slot 1's service depends on
// slot 0's, so CloudFormation updates it once slot 0 is stable again; each
// slot stops its old task (draining, 120 s stop timeout) before starting the
// new one on the same host ports. Both register in the one SRV record.
func TestSlotsAreReplacedOneAtATime(t *testing.T) {
	services := campus.resources("AWS::ECS::Service")
	var ids []string
	for id := range services {
		ids = append(ids, id)
	}
	slices.Sort(ids) // GatewayService... < GatewayService1...
	first, second := ids[0], ids[1]
	if !strings.HasPrefix(second, "GatewayService1") {
		first, second = second, first
	}
	deps, _ := services[second]["DependsOn"].([]any)
	if !slices.Contains(deps, any(first)) {
		t.Errorf("slot 1 (%s) depends on %v, not on slot 0 (%s): both would be replaced at once", second, deps, first)
	}
	if deps, _ := services[first]["DependsOn"].([]any); slices.Contains(deps, any(second)) {
		t.Error("slot 0 depends on slot 1")
	}
	var registries []string
	for _, id := range ids {
		p := props(services[id])
		b, _ := json.Marshal(p["DeploymentConfiguration"])
		if !strings.Contains(string(b), `"MaximumPercent":100`) || !strings.Contains(string(b), `"MinimumHealthyPercent":0`) {
			t.Errorf("%s deployment %s, want stop then start (0%%..100%%)", id, b)
		}
		r, _ := json.Marshal(p["ServiceRegistries"].([]any)[0].(map[string]any)["RegistryArn"])
		registries = append(registries, string(r))
	}
	campus.count(t, "AWS::ServiceDiscovery::Service", 1)
	if registries[0] != registries[1] {
		t.Errorf("the slots register in %v, want one Cloud Map service", registries)
	}
}

// The load balancer: the command port (and SFTP) balance over every healthy
// host, checked on the TCP health port; each data port's only healthy target
// is its owner, asked over HTTP on /owner/PORT.
func TestEachDataPortHasOneHealthyTargetItsOwner(t *testing.T) {
	campus.has(t, "AWS::ElasticLoadBalancingV2::TargetGroup", map[string]any{
		"Port": 9021, "HealthCheckProtocol": "TCP", "HealthCheckPort": "9081",
		"HealthCheckIntervalSeconds": 10, "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 2,
	})
	campus.has(t, "AWS::ElasticLoadBalancingV2::TargetGroup", map[string]any{"Port": 2222, "HealthCheckProtocol": "TCP", "HealthCheckPort": "9081"})
	for _, port := range seq(9022, 9045) {
		campus.has(t, "AWS::ElasticLoadBalancingV2::TargetGroup", map[string]any{
			"Port": port, "Protocol": "TCP", "TargetType": "instance",
			"HealthCheckProtocol": "HTTP", "HealthCheckPort": "8080", "HealthCheckPath": fmt.Sprintf("/owner/%d", port),
			"Matcher": map[string]any{"HttpCode": "200"}, "HealthCheckIntervalSeconds": 10,
			"HealthyThresholdCount": 2, "UnhealthyThresholdCount": 2,
		})
	}
	// The load balancer may reach the hosts' HTTP health port.
	campus.has(t, "AWS::EC2::SecurityGroupIngress", map[string]any{"FromPort": 8080, "ToPort": 8080, "SourceSecurityGroupId": assertions.Match_AnyValue()})
}

// A host per task, in private subnets of both zones (the group balances its
// hosts over them: two tasks, two zones), one more during a replacement.
func TestHostsSpreadOverTheZones(t *testing.T) {
	campus.has(t, "AWS::AutoScaling::AutoScalingGroup", map[string]any{
		"MinSize": "2", "MaxSize": "3",
		"VPCZoneIdentifier": []any{"subnet-0a0000000000000a2", "subnet-0b0000000000000b2"}, // eu-west-2a, eu-west-2b
	})
	_, asg := public.one(t, "AWS::AutoScaling::AutoScalingGroup")
	if zones, _ := props(asg)["VPCZoneIdentifier"].([]any); len(zones) < 2 {
		t.Errorf("public: hosts in %d subnets, want one per zone (at least 2)", len(zones))
	}
}

// Campus clients: the DNS sync follows every slot's service.
func TestDNSSyncFollowsEverySlot(t *testing.T) {
	_, fn := campus.one(t, "AWS::Lambda::Function")
	service := props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)["SERVICE"]
	b, _ := json.Marshal(service)
	for id := range campus.resources("AWS::ECS::Service") {
		if !strings.Contains(string(b), id) {
			t.Errorf("SERVICE %s does not name %s", b, id)
		}
	}
	for id, rule := range campus.resources("AWS::Events::Rule") {
		pattern, ok := props(rule)["EventPattern"].(map[string]any)
		if !ok {
			continue // the schedule
		}
		if groups, _ := pattern["detail"].(map[string]any)["group"].([]any); len(groups) != 2 {
			t.Errorf("%s fires for %d services' task changes, want both slots'", id, len(groups))
		}
	}
}

// The listener budget is checked at synth: three tasks of 20 data ports do
// not fit an NLB's 50 listeners.
func TestTooManyListenersFailTheSynth(t *testing.T) {
	_, err := synth(map[string]any{"publicCidrs": []any{"0.0.0.0/0"}, "gatewayTasks": float64(3)}, nil)
	if err == nil || !strings.Contains(err.Error(), `context "gatewayTasks"`) || !strings.Contains(err.Error(), "listeners exceed the NLB's 50") {
		t.Errorf("3 × 20 data ports: %v", err)
	}
}
