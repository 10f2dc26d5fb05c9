package stack

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ftps3/ftps3/app/config"
)

// taskEnvironment is slot 0's gateway container's environment as ECS would
// give it (see slotEnvironments).
func taskEnvironment(t *testing.T, s synthesized) map[string]string {
	t.Helper()
	return slotEnvironments(t, s)[0]
}

// slotEnvironments are the gateway containers' environments as ECS would
// give them, one per task definition (slot), in the order of their data
// port blocks: the task definitions' variables, with CloudFormation
// references replaced by stand-ins ("ref:LogicalId",
// "getatt:LogicalId.Attr") and secrets by stand-in values.
func slotEnvironments(t *testing.T, s synthesized) []map[string]string {
	t.Helper()
	var envs []map[string]string
	for _, td := range s.resources("AWS::ECS::TaskDefinition") {
		envs = append(envs, containerEnvironment(t, td))
	}
	slices.SortFunc(envs, func(a, b map[string]string) int {
		return strings.Compare(fmt.Sprintf("%06s", a["FTP_DATA_PORTS_FIRST"]), fmt.Sprintf("%06s", b["FTP_DATA_PORTS_FIRST"]))
	})
	return envs
}

func containerEnvironment(t *testing.T, td map[string]any) map[string]string {
	t.Helper()
	containers := props(td)["ContainerDefinitions"].([]any)
	if len(containers) != 1 {
		t.Fatalf("%d containers, want the gateway alone", len(containers))
	}
	c := containers[0].(map[string]any)
	env := map[string]string{}
	for _, v := range c["Environment"].([]any) {
		kv := v.(map[string]any)
		env[kv["Name"].(string)] = standIn(t, kv["Value"])
	}
	secrets, _ := c["Secrets"].([]any)
	for _, v := range secrets {
		name := v.(map[string]any)["Name"].(string)
		env[name] = "secret value of " + name
	}
	return env
}

func standIn(t *testing.T, v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			if ref == "AWS::Region" {
				return "eu-west-2"
			}
			return "ref-" + strings.ToLower(ref)
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok {
			return fmt.Sprintf("getatt-%s-%s.example", strings.ToLower(ga[0].(string)), strings.ToLower(ga[1].(string)))
		}
	}
	t.Fatalf("cannot stand in for %v", v)
	return ""
}

func environ(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// The environment variable names and the @ec2-local-ipv4 token are a
// contract between the infra and the gateway: the task definition's
// environment, loaded by the gateway's own config.Load, gives the ports,
// PASV plan, bucket and users the deployment asked for; and every variable
// the infra sets is one the gateway reads (another value changes the
// configuration or is refused by name), so a renamed variable fails here.
func TestTaskEnvironmentIsWhatTheGatewayReads(t *testing.T) {
	for name, s := range map[string]synthesized{"public": public, "campus": campus} {
		t.Run(name, func(t *testing.T) {
			env := taskEnvironment(t, s)
			cfg, err := config.Load(environ(env))
			if err != nil {
				t.Fatalf("config.Load refuses the task's environment: %v", err)
			}
			want := s.settings
			if cfg.CommandPort != want.CommandPort || cfg.DataPortsFirst != want.DataPortsFirst ||
				cfg.DataPortsCount != want.DataPortsCount || cfg.HealthcheckPort != want.HealthcheckPort {
				t.Errorf("ports %d %d+%d %d, want %d %d+%d %d", cfg.CommandPort, cfg.DataPortsFirst, cfg.DataPortsCount, cfg.HealthcheckPort,
					want.CommandPort, want.DataPortsFirst, want.DataPortsCount, want.HealthcheckPort)
			}
			if cfg.Storage != "s3" || !strings.HasPrefix(cfg.S3.Bucket, "ref-bucketfiles") || cfg.S3.Region != "eu-west-2" {
				t.Errorf("storage %s, bucket %q in %q", cfg.Storage, cfg.S3.Bucket, cfg.S3.Region)
			}
			// Users: none in the environment or injected by ECS; the gateway
			// reads the stack's users secret itself (its Ref is the ARN),
			// and the task role may read it.
			wantID := want.UsersSecretArn
			if wantID == "" {
				wantID = "ref-" + strings.ToLower(s.described(t, "AWS::SecretsManager::Secret", "user list"))
			}
			if cfg.UsersSecretID != wantID || len(cfg.StaticUsers) != 0 {
				t.Errorf("users secret id %q and %d static users, want %s alone", cfg.UsersSecretID, len(cfg.StaticUsers), wantID)
			}
			if cfg.UsersReloadInterval <= 0 {
				t.Errorf("users reload every %s: a new user would need a restart", cfg.UsersReloadInterval)
			}
			// PASV: each campus network gets the host's own address; the rest
			// of the world the load balancer's name.
			var plan []string
			for _, d := range cfg.DataCIDRs {
				plan = append(plan, d.Net.String()+" "+d.Domain)
			}
			var wantPlan []string
			for _, c := range want.CampusCidrs {
				wantPlan = append(wantPlan, c+" "+config.PassiveFromEC2)
			}
			nlbID, _ := s.one(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
			wantPlan = append(wantPlan, "0.0.0.0/0 getatt-"+strings.ToLower(nlbID)+"-dnsname.example")
			if !reflect.DeepEqual(plan, wantPlan) {
				t.Errorf("PASV plan %q, want %q", plan, wantPlan)
			}
			if _, n, _ := net.ParseCIDR("0.0.0.0/0"); !cfg.DataCIDRs[len(cfg.DataCIDRs)-1].Net.Contains(n.IP) {
				t.Error("the last rule does not cover the internet")
			}

			// Every slot's task reads the same configuration but for its
			// own block of data ports, one block after the other.
			slots := slotEnvironments(t, s)
			if len(slots) != want.GatewayTasks {
				t.Fatalf("%d task definitions, want gatewayTasks=%d", len(slots), want.GatewayTasks)
			}
			for i, slotEnv := range slots {
				slotCfg, err := config.Load(environ(slotEnv))
				if err != nil {
					t.Fatalf("slot %d: config.Load refuses the task's environment: %v", i, err)
				}
				if slotCfg.DataPortsFirst != want.DataPortsFirst+i*want.DataPortsCount || slotCfg.DataPortsCount != want.DataPortsCount {
					t.Errorf("slot %d hands out %d+%d, want %d+%d", i, slotCfg.DataPortsFirst, slotCfg.DataPortsCount,
						want.DataPortsFirst+i*want.DataPortsCount, want.DataPortsCount)
				}
				slotCfg.DataPortsFirst = cfg.DataPortsFirst
				if !reflect.DeepEqual(slotCfg, cfg) {
					t.Errorf("slot %d's configuration differs from slot 0's in more than its data ports", i)
				}
			}

			for name, value := range env {
				other := map[string]string{}
				for k, v := range env {
					other[k] = v
				}
				other[name] = "x" + value
				changed, err := config.Load(environ(other))
				switch {
				case err != nil && !strings.Contains(err.Error(), name):
					t.Errorf("%s=%q: refused without naming it: %v", name, other[name], err)
				case err == nil && reflect.DeepEqual(changed, cfg):
					t.Errorf("%s: the gateway does not read it (another value changes nothing)", name)
				}
			}
		})
	}
}

// described is the logical id of the one resource of type typ whose
// Description mentions what.
func (s synthesized) described(t *testing.T, typ, what string) string {
	t.Helper()
	var ids []string
	for id, r := range s.resources(typ) {
		if d, _ := props(r)["Description"].(string); strings.Contains(d, what) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d resources of type %s described as %q, want 1", len(ids), typ, what)
	}
	return ids[0]
}
